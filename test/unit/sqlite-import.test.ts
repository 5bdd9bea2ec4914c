/**
 * Every database is opened through gateway/sqlite.ts, which picks the better-sqlite3 build that works on
 * the running Node line (12 aborts on Node 24.19+, 13 segfaults on Node 20). A direct value import would
 * load 12 on Node 24 and crash the process at a GC (issue 12 point 4).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|js)$/.test(name)) out.push(p);
  }
  return out;
}

test('no module but gateway/sqlite.ts loads better-sqlite3 itself', () => {
  const offenders = ['gateway', 'devices', 'protocols', 'sim', 'test']
    .flatMap((d) => sources(join(root, d)))
    .filter((f) => !f.endsWith('gateway/sqlite.ts') && !f.endsWith('test/unit/sqlite-import.test.ts'))
    .filter((f) => /^import (?!type )[^;]*from 'better-sqlite3(-napi)?'|require\('better-sqlite3(-napi)?'\)|import\('better-sqlite3/m.test(readFileSync(f, 'utf8')))
    .map((f) => relative(root, f));
  assert.equal(offenders, [], `open databases through gateway/sqlite.ts: ${offenders.join(', ')}`);
});

test.run();
