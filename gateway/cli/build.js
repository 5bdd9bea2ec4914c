#!/usr/bin/env node
// `npm run build` (also run by `npm ci` / `npm install` through `prepare`): compiles the
// TypeScript into dist/ with tsc, so `fillgate` starts without transpiling at run time
// (issue 14: tsx cost 0.4-0.5 s of start and ~28 MB). A clean build every time, so a removed
// source leaves no module behind; dist/.built is written last, only when tsc succeeded.
// The stamp carries the build's start time, so a source saved while tsc ran makes the build stale.
// Without typescript (an install that omitted dev dependencies) there is nothing to build
// with: the bin runs the sources through tsx, as before.
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { distDir, root, stampFile } from './dist.js';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = join(require.resolve('typescript/package.json', { paths: [root] }), '../bin/tsc');
} catch {
  console.warn('fillgate build: typescript is not installed (dev dependency): no dist/, fillgate runs its sources with tsx');
  process.exit(0);
}
if (!existsSync(tsc)) {
  console.error(`fillgate build: ${tsc} not found`);
  process.exit(1);
}
const t0 = Date.now();
// Built aside and swapped in, so a fillgate starting meanwhile sees the old build or the new one.
const next = `${distDir}.next-${process.pid}`;
rmSync(next, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', next], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  // No new stamp: the bin goes on running the sources with tsx (dist/, if any, is older than them).
  console.error(`fillgate build: tsc failed (exit ${r.status ?? r.signal}); dist/ not updated`);
  process.exit(1);
}
const stamp = join(next, basename(stampFile));
writeFileSync(stamp, `${JSON.stringify({ builtAt: new Date(t0).toISOString(), node: process.version })}\n`);
utimesSync(stamp, t0 / 1000, t0 / 1000);
rmSync(distDir, { recursive: true, force: true });
renameSync(next, distDir);
console.log(`fillgate build: dist/ in ${Date.now() - t0} ms`);
