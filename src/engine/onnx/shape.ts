/** Build-time shapes: numbers are known sizes, strings are symbolic dims ('batch', 'seq'). */
export type Dim = number | string;
export type Shape = Dim[];


/** Numpy-style broadcast of two shapes; throws on a known mismatch. */
export function broadcastShapes(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (da === db) out.push(da);
    else if (typeof da === 'string' && typeof db === 'number') out.push(db);
    else if (typeof db === 'string' && typeof da === 'number') out.push(da);
    // Two different symbolic names may still be equal at run time (e.g. 'total' and 'past+seq').
    else if (typeof da === 'string' && typeof db === 'string') out.push(da);
    else throw new Error(`cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

/**
 * The axes of `out` over which a value of shape `input` was broadcast: the gradient of
 * that input is the output gradient summed over them (then reshaped to `input`).
 */
export function broadcastAxes(input: Shape, out: Shape): number[] {
  const axes: number[] = [];
  const lead = out.length - input.length;
  for (let i = 0; i < out.length; i++) {
    if (i < lead) axes.push(i);
    else if (input[i - lead] === 1 && out[i] !== 1) axes.push(i);
  }
  return axes;
}

export function numel(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}
