/** test/run.ts counts honestly (issue 12 point 1): skips listed and counted, CI fails them, .only fails, printed summaries ignored. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

function run(filter: string, env: Record<string, string> = {}): { out: string; code: number | null; last: string } {
  const { CI: _ci, ...rest } = process.env;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/run.ts', filter], {
    cwd: root,
    env: { ...rest, TEST_DIR: join(root, 'test/.runner-fixtures'), TEST_CONCURRENCY: '1', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const out = r.stdout + r.stderr;
  return { out, code: r.status, last: out.trim().split('\n').pop()! };
}

test('a summary printed by a test does not count; only uvu\'s last one does', () => {
  const r = run('fake-summary');
  assert.is(r.last, '1 passed, 1 failed, 0 skipped');
  assert.is(r.code, 1);
});

test('a skipped test is counted as skipped and listed with its reason, not passed', () => {
  const r = run('skips');
  assert.is(r.last, '1 passed, 0 failed, 1 skipped');
  assert.match(r.out, /skips\.test\.ts: needs a tool: no-such-tool-fillgate is not installed/);
  assert.is(r.code, 0);
});

test('under CI=true a skip is a failure', () => {
  const r = run('skips', { CI: 'true' });
  assert.is(r.last, '1 passed, 1 failed, 0 skipped');
  assert.is(r.code, 1);
});

test('a leftover .only fails the run', () => {
  const r = run('only.test');
  assert.match(r.out, /\.only left in the file/);
  assert.is(r.last, '0 passed, 1 failed, 0 skipped');
  assert.is(r.code, 1);
});

test.run();
