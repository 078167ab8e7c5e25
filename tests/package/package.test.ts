/**
 * The Linux package, built here: electron-vite builds main, preload and renderer; electron-builder
 * packages the Linux directory target with a stand-in Electron distribution (the real binary
 * cannot be downloaded on these machines); then the package is checked as shipped. One packaging
 * run, shared by every assertion. It works on a copy of the project in a temporary folder (the
 * build included), so that other tests that build out/ at the same time cannot disturb it.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import asar from '@electron/asar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const MODEL = path.resolve(ROOT, '../shared/models/stories260K-hf');
const ARCH = process.arch;
const BUDGET_BYTES = 200 * 1024 * 1024;
const { checkBinaries } = createRequire(import.meta.url)(path.join(ROOT, 'scripts/after-pack.cjs')) as {
  checkBinaries(resources: string, platform: string, arch: string): string[];
};

let tmp: string;
let resources: string;
let extracted: string;
let asarFiles: string[];

async function walk(dir: string): Promise<{ file: string; bytes: number }[]> {
  const out: { file: string; bytes: number }[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!d.isFile()) continue;
    const file = path.join(d.parentPath, d.name);
    out.push({ file, bytes: (await stat(file)).size });
  }
  return out;
}
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

/** The packages `dependencies` reach, resolved as Node does (nested node_modules first). */
async function productionClosure(): Promise<Set<string>> {
  const exists = (p: string) => stat(p).then(() => true, () => false);
  const resolveFrom = async (name: string, dir: string): Promise<string | undefined> => {
    for (let d = dir; d.startsWith(ROOT); d = path.dirname(d)) {
      const candidate = path.join(d, 'node_modules', name);
      if (await exists(path.join(candidate, 'package.json'))) return candidate;
      if (d === ROOT) break;
    }
    return undefined;
  };
  const names = new Set<string>();
  const seen = new Set<string>();
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
  const queue: [string, string][] = Object.keys(pkg.dependencies).map((n) => [n, ROOT]);
  while (queue.length) {
    const [name, from] = queue.pop()!;
    const dir = await resolveFrom(name, from);
    if (!dir || seen.has(dir)) continue;
    seen.add(dir);
    names.add(name);
    const dep = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
    for (const n of Object.keys({ ...dep.dependencies, ...dep.optionalDependencies })) queue.push([n, dir]);
  }
  return names;
}

/** Package names under node_modules/ anywhere in the archive. */
function packagesIn(files: string[]): Set<string> {
  const names = new Set<string>();
  for (const f of files) {
    const m = f.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\/package\.json$/);
    if (m) names.add(m[1]);
  }
  return names;
}

describe.runIf(process.platform === 'linux')('the Linux package', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'attune-package-'));
    const project = path.join(tmp, 'project');
    await mkdir(path.join(project, 'scripts'), { recursive: true });
    // The build, into the copy.
    await run(path.join(ROOT, 'node_modules/.bin/electron-vite'), ['build', '--outDir', path.join(project, 'out')], { cwd: ROOT, maxBuffer: 64 << 20 });
    for (const f of ['package.json', 'package-lock.json', 'LICENSE', 'electron-builder.yml', 'scripts/after-pack.cjs']) await copyFile(path.join(ROOT, f), path.join(project, f));
    await cp(path.join(ROOT, 'resources'), path.join(project, 'resources'), { recursive: true });
    // node_modules as hard links (a symlink hides transitive dependencies from electron-builder).
    await run('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(project, 'node_modules')]).catch(() => run('cp', ['-a', path.join(ROOT, 'node_modules'), path.join(project, 'node_modules')]));

    // The stand-in Electron: an executable, a version file and the licence files (no default_app.asar:
    // electron-builder hashes every asar it finds).
    const electronDist = path.join(tmp, 'electron');
    await mkdir(electronDist);
    await writeFile(path.join(electronDist, 'electron'), '#!/bin/sh\necho "stand-in Electron"\n', { mode: 0o755 });
    const electronVersion = JSON.parse(await readFile(path.join(ROOT, 'node_modules/electron/package.json'), 'utf8')).version;
    await writeFile(path.join(electronDist, 'version'), electronVersion);
    await copyFile(path.join(ROOT, 'node_modules/electron/LICENSE'), path.join(electronDist, 'LICENSE'));
    await writeFile(path.join(electronDist, 'LICENSES.chromium.html'), '<!doctype html><title>Chromium licences (stand-in)</title>');

    await run(path.join(ROOT, 'node_modules/.bin/electron-builder'), ['--linux', 'dir', `--${ARCH}`, '--publish', 'never', `-c.electronDist=${electronDist}`], {
      cwd: project,
      maxBuffer: 64 << 20,
      env: { ...process.env, CSC_IDENTITY_AUTO_DISCOVERY: 'false' },
    });
    const unpacked = path.join(project, 'dist', ARCH === 'x64' ? 'linux-unpacked' : `linux-${ARCH}-unpacked`);
    resources = path.join(unpacked, 'resources');
    asarFiles = asar.listPackage(path.join(resources, 'app.asar'), { isPack: false }).map((f) => f.replaceAll('\\', '/'));
    extracted = path.join(tmp, 'extracted');
    asar.extractAll(path.join(resources, 'app.asar'), extracted);
  }, 600_000);

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });

  it('holds the main, preload and renderer builds in app.asar', async () => {
    for (const f of ['/package.json', '/LICENSE', '/out/main/index.js', '/out/main/tune-worker.js', '/out/main/probe-worker.js', '/out/main/cli.js', '/out/preload/index.cjs', '/out/renderer/index.html']) {
      expect(asarFiles).toContain(f);
    }
    const html = await readFile(path.join(extracted, 'out/renderer/index.html'), 'utf8');
    const scripts = [...html.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map((m) => `/out/renderer/${m[1]}`);
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) expect(asarFiles).toContain(s);
    const pkg = JSON.parse(await readFile(path.join(extracted, 'package.json'), 'utf8'));
    expect(pkg.main).toBe('out/main/index.js');
    // The bundled sample sits next to app.asar, where main looks for it (process.resourcesPath/resources).
    expect((await stat(path.join(resources, 'resources/samples/customer-service.jsonl'))).size).toBeGreaterThan(1000);
  });

  it("unpacks onnxruntime-node's Linux binding and library, and carries no other platform's binaries", async () => {
    const bin = path.join(resources, 'app.asar.unpacked/node_modules/onnxruntime-node/bin/napi-v6/linux', ARCH);
    expect((await stat(path.join(bin, 'onnxruntime_binding.node'))).size).toBeGreaterThan(0);
    expect((await stat(path.join(bin, 'libonnxruntime.so.1'))).size).toBeGreaterThan(1 << 20);
    expect(checkBinaries(resources, 'linux', ARCH)).toEqual([]);
    const everything = [...asarFiles, ...(await walk(resources)).map((f) => f.file.replaceAll('\\', '/'))];
    const foreign = everything.filter((f) => /\.(dll|dylib|exe)$/i.test(f) || /napi-v\d+\/(darwin|win32)\b/.test(f) || new RegExp(`napi-v\\d+/linux/(?!${ARCH})`).test(f));
    expect(foreign).toEqual([]);
    // Native files are outside the archive, none inside it.
    expect(asarFiles.filter((f) => /\.(node|so(\.\d+)*)$/.test(f)).every((f) => f.includes('onnxruntime-node/bin/'))).toBe(true);
  });

  it('carries no development dependency', async () => {
    const closure = await productionClosure();
    const inside = packagesIn(asarFiles);
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
    for (const name of Object.keys(pkg.dependencies)) expect(inside, name).toContain(name);
    expect([...inside].filter((n) => !closure.has(n))).toEqual([]);
    const devOnly = Object.keys(pkg.devDependencies).filter((n) => !closure.has(n));
    expect(devOnly).toEqual(expect.arrayContaining(['tsx', 'electron', 'electron-builder', 'vitest', 'react', 'typescript']));
    expect(devOnly.filter((n) => inside.has(n))).toEqual([]);
    expect(asarFiles.some((f) => f.startsWith('/src/') || f.startsWith('/tests/') || f.startsWith('/bench/'))).toBe(false);
  });

  it('keeps the resources within 200 MiB', async () => {
    const files = await walk(resources);
    const total = files.reduce((s, f) => s + f.bytes, 0);
    const part = (p: string) => files.filter((f) => path.relative(resources, f.file).startsWith(p)).reduce((s, f) => s + f.bytes, 0);
    console.log(`Linux ${ARCH} package resources: ${mib(total)} (app.asar ${mib(part('app.asar') - part('app.asar.unpacked'))}, app.asar.unpacked ${mib(part('app.asar.unpacked'))}, resources/ ${mib(part('resources'))})`);
    expect(total).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it('the built renderer references no external URL', async () => {
    const dir = path.join(extracted, 'out/renderer');
    const files = (await walk(dir)).map((f) => f.file);
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    // The page's policy: nothing but its own files; no http(s) anywhere in the HTML.
    const csp = html.match(/http-equiv="Content-Security-Policy"\s+content="([^"]+)"/)?.[1] ?? '';
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(csp).toMatch(/font-src 'self'/);
    expect(html).not.toMatch(/https?:\/\//);
    for (const css of files.filter((f) => f.endsWith('.css'))) {
      const text = await readFile(css, 'utf8');
      expect(text, css).not.toMatch(/@import|url\(\s*['"]?(https?:)?\/\//);
    }
    // Scripts: no request to a literal address outside the app; the only URLs are XML namespaces
    // and links inside libraries' error messages, which nothing loads.
    const allowed = [/^http:\/\/www\.w3\.org\//, /^https:\/\/react\.dev\/errors\//, /^https:\/\/(redux|redux-toolkit)\.js\.org\/Errors/, /^https:\/\/github\.com\/recharts\//, /^https:\/\/developer\.mozilla\.org\//, /^https:\/\/bit\.ly\/3cXEKWf/,
      // zod's JSON Schema dialect names and its URL check's host template: identifiers, never loaded.
      /^https?:\/\/json-schema\.org\/draft/, /^http:\/\/\[\$\{/,
      // The download address field's placeholder text (downloads run in the main process, on request).
      /^https:\/\/huggingface\.co$/];
    for (const js of files.filter((f) => f.endsWith('.js'))) {
      const text = await readFile(js, 'utf8');
      const urls = [...text.matchAll(/https?:\/\/[^\s"'`)<>\\]+/g)].map((m) => m[0]);
      expect(urls.filter((u) => !allowed.some((a) => a.test(u))), js).toEqual([]);
      expect(text, js).not.toMatch(/(fetch|EventSource|WebSocket|sendBeacon|importScripts)\(\s*['"`]https?:/);
    }
  });

  it('runs the engine inside the package by itself: devices and a short tune on the bundled sample', async () => {
    const env = { PATH: process.env.PATH ?? '', HOME: tmp, ATTUNE_CACHE_DIR: path.join(tmp, 'cache') };
    const cli = path.join(extracted, 'out/main/cli.js');
    const devices = await run(process.execPath, [cli, 'devices', '--json'], { cwd: extracted, env, maxBuffer: 16 << 20 });
    const report = JSON.parse(devices.stdout);
    const probes: { device: string; available: boolean }[] = report.devices;
    expect(probes.find((p) => p.device === 'cpu')?.available).toBe(true);

    const out = path.join(tmp, 'run');
    const sample = path.join(resources, 'resources/samples/customer-service.jsonl');
    const tune = await run(process.execPath, [cli, 'tune', '--model', MODEL, '--data', sample, '--out', out, '--max-steps', '3', '--batch-size', '2', '--max-length', '256', '--device', 'cpu', '--json'], { cwd: extracted, env, maxBuffer: 64 << 20 });
    const events = tune.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([1, 2, 3]);
    expect(events.find((e) => e.type === 'done')).toMatchObject({ type: 'done', step: 3, adapterDir: path.join(out, 'adapter') });
    expect(events.at(-1)).toMatchObject({ type: 'result', steps: 3, stoppedBecause: 'max-steps' });
    expect((await stat(path.join(out, 'adapter/adapter_model.safetensors'))).size).toBeGreaterThan(0);
  }, 180_000);
});
