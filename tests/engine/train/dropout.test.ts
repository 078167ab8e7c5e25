/**
 * The in-graph dropout masks: the kept share is 1 - p, and masks differ by layer, target, step and
 * element (no period). Their bit-exactness across providers is checked in runtime/webgpu.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { createSession, floatTensor } from '../../../src/engine/runtime/session.js';
import { dropoutMasks } from '../../../src/engine/train/step-graph.js';

describe('LoRA dropout masks', () => {
  it('keep 1 - p of the elements, scaled by 1/(1 - p), independently per layer, target and step', async () => {
    const p = 0.3;
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['tokens', 64]);
    const drop = dropoutMasks(g, p, 42);
    g.output(drop(x, 0, 'q'), 'a');
    g.output(drop(x, 0, 'k'), 'b');
    g.output(drop(x, 5, 'q'), 'c');
    const s = await createSession(serializeGraph(g).model, { threads: 1 });
    const ones = floatTensor(new Float32Array(1200 * 64).fill(1), [1200, 64]);
    const run = async (step: number) => s.run({ x: ones, dropout_step: floatTensor(Float32Array.of(step), []) });
    const r0 = await run(0);
    const r1 = await run(1);
    const again = await run(0);
    const kept = (t: Float32Array) => t.filter((v) => v !== 0).length / t.length;
    for (const name of ['a', 'b', 'c']) {
      const m = r0[name].data as Float32Array;
      expect(kept(m)).toBeGreaterThan(0.67);
      expect(kept(m)).toBeLessThan(0.73);
      expect(new Set(m)).toEqual(new Set([0, 1 / (1 - p)].map(Math.fround)));
    }
    const same = (u: Float32Array, v: Float32Array) => u.filter((val, i) => (val === 0) === (v[i] === 0)).length / u.length;
    const [a0, b0, c0, a1] = [r0.a.data, r0.b.data, r0.c.data, r1.a.data] as Float32Array[];
    // Independent masks agree on about p^2 + (1-p)^2 = 0.58 of the elements; identical ones on all.
    for (const other of [b0, c0, a1]) expect(same(a0, other)).toBeLessThan(0.65);
    expect(same(a0, again.a.data as Float32Array)).toBe(1);
    // No period in the element index: elements 2^16 apart are as independent as any others.
    const head = a0.subarray(0, a0.length - 65536);
    expect(same(head, a0.subarray(65536))).toBeLessThan(0.65);
    // Neighbours are independent too (a weak hash shows runs along a row).
    expect(same(a0.subarray(0, a0.length - 1), a0.subarray(1))).toBeLessThan(0.65);
  });
});
