// buildinfo records what dist/ was built from, so a Go test (ui/build_test.go)
// can tell when the committed build is stale against its sources.
//
//   node scripts/buildinfo.mjs write   after `vite build`: writes dist/build-info.json
//   node scripts/buildinfo.mjs check   exits 1 when dist/ is stale
//
// The source digest is sha256 over, for every input file in byte order of
// its path relative to ui/: path, NUL, hex sha256 of its bytes, newline.
// Inputs: index.html, package.json, package-lock.json, tsconfig.json,
// vite.config.ts, scripts/buildinfo.mjs and everything under src/.
// ui/build_test.go computes the same digest; keep the two in step.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixed = ['index.html', 'package.json', 'package-lock.json', 'tsconfig.json', 'vite.config.ts', 'scripts/buildinfo.mjs'];

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(relative(root, p).split(sep).join('/'));
  }
  return out;
}

const sha = (b) => createHash('sha256').update(b).digest('hex');
const byBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export function sourceDigest() {
  const files = [...fixed, ...walk(join(root, 'src'))].sort(byBytes);
  const h = createHash('sha256');
  for (const f of files) h.update(f + '\0' + sha(readFileSync(join(root, f))) + '\n');
  return { digest: h.digest('hex'), files: files.length };
}

function distFiles() {
  const d = join(root, 'dist');
  return walk(d)
    .map((f) => f.slice('dist/'.length))
    .filter((f) => f !== 'build-info.json')
    .sort(byBytes);
}

const cmd = process.argv[2];
if (cmd === 'write') {
  const { digest, files } = sourceDigest();
  const assets = {};
  for (const f of distFiles()) assets[f] = sha(readFileSync(join(root, 'dist', f)));
  const info = { source_sha256: digest, source_files: files, assets };
  writeFileSync(join(root, 'dist', 'build-info.json'), JSON.stringify(info, null, 2) + '\n');
  console.log(`dist/build-info.json: sources ${digest.slice(0, 12)} (${files} files), ${Object.keys(assets).length} assets`);
} else if (cmd === 'check') {
  const info = JSON.parse(readFileSync(join(root, 'dist', 'build-info.json'), 'utf8'));
  const { digest } = sourceDigest();
  if (info.source_sha256 !== digest) {
    console.error('ui/dist is stale: run `make ui` and commit ui/dist');
    process.exit(1);
  }
  console.log('ui/dist is up to date');
} else {
  console.error('usage: node scripts/buildinfo.mjs write|check');
  process.exit(2);
}
