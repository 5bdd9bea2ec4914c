#!/usr/bin/env node
// Entry point for the `fillgate` command. Runs the compiled build (dist/, `npm run build`,
// made by `npm ci`/`npm install`) when it is newer than every source; otherwise registers
// tsx so the TypeScript sources run as they are (Node 20 has no type stripping), and says
// why when dist/ exists but is older than the sources. FILLGATE_SOURCES=1 forces the sources.
import { distMain, distState } from './dist.js';

const state = process.env.FILLGATE_SOURCES === '1' ? 'forced' : distState();
if (state === 'current') {
  await import(distMain);
} else {
  if (state === 'stale') console.error('fillgate: dist/ is older than the sources (npm run build): running the sources with tsx');
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
