// electron-builder afterPack hook: a package must carry onnxruntime-node's binding for its own
// platform and architecture, unpacked next to app.asar, and no other platform's binaries.
// Stops the build with a plain reason otherwise (onnxruntime-node 1.30.0 ships no binary for
// Intel Macs, say).
const fs = require('node:fs');
const path = require('node:path');

const PLATFORM = { linux: 'linux', mac: 'darwin', darwin: 'darwin', windows: 'win32', win32: 'win32' };
const ARCH = { 0: 'ia32', 1: 'x64', 2: 'armv7l', 3: 'arm64', 4: 'universal' };

function resourcesDir(ctx) {
  if (ctx.electronPlatformName === 'darwin' || ctx.electronPlatformName === 'mas') {
    return path.join(ctx.appOutDir, `${ctx.packager.appInfo.productFilename}.app`, 'Contents', 'Resources');
  }
  return path.join(ctx.appOutDir, 'resources');
}

/** Checks one packed app folder; returns the problems (empty when fine). Used by the tests too. */
function checkBinaries(resources, platform, arch) {
  const bin = path.join(resources, 'app.asar.unpacked', 'node_modules', 'onnxruntime-node', 'bin');
  const problems = [];
  if (!fs.existsSync(bin)) return [`onnxruntime-node's binaries are not unpacked next to app.asar (${bin})`];
  for (const napi of fs.readdirSync(bin)) {
    for (const p of fs.readdirSync(path.join(bin, napi))) {
      for (const a of fs.readdirSync(path.join(bin, napi, p))) {
        if (p !== platform || a !== arch) problems.push(`the package carries another platform's binaries: ${napi}/${p}/${a}`);
      }
    }
    const own = path.join(bin, napi, platform, arch, 'onnxruntime_binding.node');
    if (!fs.existsSync(own)) problems.push(`onnxruntime-node has no binding for ${platform} ${arch} in this version (${napi}/${platform}/${arch}/onnxruntime_binding.node is missing)`);
  }
  return problems;
}

async function afterPack(ctx) {
  const platform = PLATFORM[ctx.electronPlatformName] ?? ctx.electronPlatformName;
  const arch = ARCH[ctx.arch] ?? String(ctx.arch);
  const problems = checkBinaries(resourcesDir(ctx), platform, arch);
  if (problems.length) throw new Error(`Attune cannot be packaged for ${platform} ${arch}: ${problems.join('; ')}`);
}

module.exports = afterPack;
module.exports.default = afterPack;
module.exports.checkBinaries = checkBinaries;
