/**
 * The compiled build (issue 14 point 4): `npm run build` compiles the sources into dist/ with
 * tsc, the `fillgate` bin runs dist/ when it is newer than every source and the sources with
 * tsx otherwise, and the worker threads start from dist/ too. The build runs here first, so the
 * checks are on a build of these sources, never on a stale one.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'gateway/cli/fillgate.js');

function run(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<{ code: number | null; out: string; err: string }> {
  // Plain node, no tsx loader: what a user's shell runs.
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b));
  child.stderr.on('data', (b: Buffer) => (err += b));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) => child.on('exit', (code) => (clearTimeout(timer), resolve({ code, out, err }))));
}

test('npm run build compiles every module into dist/ and stamps it; the bin then counts it current', async () => {
  const r = await run([join(root, 'gateway/cli/build.js')]);
  assert.is(r.code, 0, r.out + r.err);
  for (const f of ['.built', 'gateway/cli/main.js', 'gateway/runtime/station.js', 'gateway/registry/import-worker.js', 'gateway/records/export-worker.js', 'gateway/mqtt/broker-worker.js', 'gateway/receiver/prepare-worker.js', 'gateway/http/dashboard/query-worker.js', 'sim/main.js']) {
    assert.ok(existsSync(join(root, 'dist', f)), `dist/${f} missing`);
  }
  const { distState } = (await import(join(root, 'gateway/cli/dist.js'))) as { distState(): string };
  assert.is(distState(), 'current');
});

test('`fillgate --version` and `fillgate config check` run the compiled build', async () => {
  const v = await run([bin, '--version']);
  assert.is(v.code, 0, v.err);
  assert.match(v.out, /^fillgate \d+\.\d+\.\d+ \(node v\d+[^)]*compiled \(dist\/\)\)/);
  assert.is(v.err, '');
  const c = await run([bin, 'config', 'check', join(root, 'examples/gateway.yaml')]);
  assert.is(c.code, 0, c.out + c.err);
  assert.match(c.out, /P1/);
  const bad = await run([bin, 'config', 'check', join(root, 'examples/station.yaml')]);
  assert.is(bad.code, 1, 'a config that is not one fails the check in the compiled build as well');
});

test('a worker thread starts from dist/ without tsx (registry import in a worker)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-build-'));
  try {
    const dist = (p: string) => JSON.stringify(join(root, 'dist', p));
    const script = `
      import { readFileSync } from 'node:fs';
      const { default: Database } = await import(${dist('gateway/sqlite.js')});
      const { openRegistry } = await import(${dist('gateway/registry/registry.js')});
      const { importInWorker } = await import(${dist('gateway/registry/import-runner.js')});
      const dbPath = ${JSON.stringify(join(dir, 'station.db'))};
      const db = new Database(dbPath); openRegistry(db); db.close();
      const bytes = readFileSync(${JSON.stringify(join(root, 'examples/cylinders.csv'))});
      const r = await importInWorker({ dbPath, kind: 'cylinders', format: 'csv', bytes, opts: { mode: 'valid-rows' } });
      console.log(JSON.stringify({ total: r.total, applied: r.applied }));`;
    // A file, not `-e`: the worker inherits the parent's execArgv, and --input-type is refused there.
    writeFileSync(join(dir, 'import.mjs'), script);
    const r = await run([join(dir, 'import.mjs')]);
    assert.is(r.code, 0, r.out + r.err);
    const report = JSON.parse(r.out.trim()) as { total: number; applied: boolean };
    assert.ok(report.total > 5, r.out);
    assert.is(report.applied, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a source newer than dist/: the bin says so and runs the sources with tsx; FILLGATE_SOURCES=1 forces them', async () => {
  const src = join(root, 'gateway/cli/args.ts');
  const was = statSync(src);
  try {
    const future = Date.now() / 1000 + 60;
    utimesSync(src, future, future);
    const r = await run([bin, '--version']);
    assert.is(r.code, 0, r.err);
    assert.match(r.err, /dist\/ is older than the sources \(npm run build\)/);
    assert.match(r.out, /sources \(tsx\)/);
  } finally {
    utimesSync(src, was.atime, was.mtime);
  }
  const f = await run([bin, '--version'], { FILLGATE_SOURCES: '1' });
  assert.match(f.out, /sources \(tsx\)/);
  assert.is(f.err, '');
});

test.run();
