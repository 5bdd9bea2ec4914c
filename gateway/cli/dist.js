// Where the compiled build lives and whether it is current (plain JavaScript: the bin and the
// build script load it before any TypeScript can run). dist/ mirrors the source tree
// (tsconfig.build.json); dist/.built is written last by a build that succeeded.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const root = new URL('../..', import.meta.url).pathname;
export const distDir = join(root, 'dist');
export const stampFile = join(distDir, '.built');
export const distMain = join(distDir, 'gateway/cli/main.js');
/** What the build compiles: a change to any of these makes dist/ stale. */
const SOURCE_DIRS = ['gateway', 'protocols', 'devices', 'sim'];
const SOURCE_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

/** The newest modification time (ms) of a source file or folder (a removed file changes its folder's). */
export function newestSourceMs() {
  let newest = 0;
  const see = (p) => (newest = Math.max(newest, statSync(p).mtimeMs));
  const walk = (dir) => {
    see(dir);
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.ts') || e.name.endsWith('.js')) see(join(dir, e.name));
    }
  };
  for (const d of SOURCE_DIRS) walk(join(root, d));
  for (const f of SOURCE_FILES) if (existsSync(join(root, f))) see(join(root, f));
  return newest;
}

/** 'current' (built after the last source change), 'stale' or 'missing'. */
export function distState() {
  if (!existsSync(stampFile) || !existsSync(distMain)) return 'missing';
  return statSync(stampFile).mtimeMs >= newestSourceMs() ? 'current' : 'stale';
}
