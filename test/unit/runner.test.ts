/** test/run.ts counts honestly (issue 12 point 1): skips listed and counted, CI fails them, .only fails, printed summaries ignored. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';

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

test('what a test file leaves in its temporary folder is removed when the file ends', () => {
  const outFile = join(mkdtempSync(join(tmpdir(), 'fg-runner-')), 'left');
  const r = run('leaves-tmp', { RUNNER_FIXTURE_OUT: outFile });
  assert.is(r.last, '1 passed, 0 failed, 0 skipped');
  const left = readFileSync(outFile, 'utf8');
  rmSync(dirname(outFile), { recursive: true, force: true });
  assert.not.ok(left!.startsWith(tmpdir() + '/fg-leftover-'), 'the file ran in its own TMPDIR');
  assert.not.ok(existsSync(left!), `${left} still exists`);
});

test('without the Debian tools and without apt-get the run stops at once, naming the packages', () => {
  const bin = mkdtempSync(join(tmpdir(), 'fg-nobin-'));
  try {
    for (const t of ['sh', 'env']) symlinkSync(spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim(), join(bin, t));
    const { CI: _ci, TEST_DIR: _d, ...rest } = process.env;
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/run.ts', 'no-file-matches-this'], {
      cwd: root,
      env: { ...rest, PATH: `${bin}:${dirname(process.execPath)}`.replace(/:\/usr\/bin.*$/, '') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.is(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /not installed: .*socat.*mosquitto/);
    assert.match(r.stderr, /run: sudo apt-get install -y /);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
