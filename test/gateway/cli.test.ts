/**
 * The command line as the README walks through it (issue 12 points 5, 6, 8):
 * --help on every command and subcommand, unknown options listing the valid
 * ones, `fillgate sim` reading the console verbs on stdin, `mqtt hash-password`
 * reading stdin, `devices watch --max-seconds` ending at once on SIGINT.
 * Each runs `fillgate` in a child process.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import { verifyPassword } from '../../gateway/mqtt/password.ts';

const root = new URL('../..', import.meta.url).pathname;
const main = join(root, 'gateway/cli/main.ts');

function start(args: string[]): { child: ChildProcessWithoutNullStreams; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { child, out: () => out, err: () => err, exited };
}

async function run(args: string[], stdin?: string): Promise<{ code: number | null; out: string; err: string }> {
  const p = start(args);
  if (stdin !== undefined) p.child.stdin.end(stdin);
  else p.child.stdin.end();
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 30_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out: p.out(), err: p.err() };
}

async function until(what: string, fn: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const commands = ['demo', 'start', 'sim', 'wait', 'devices', 'config', 'registry', 'keys', 'records', 'sync', 'receiver', 'doctor', 'modbus', 'serial', 'mqtt'];

test('--help works on every command and subcommand, and `fillgate help <command>` says the same', async () => {
  for (const args of [...commands.map((c) => [c, '--help']), ['registry', 'import', '--help'], ['devices', 'watch', '-h'], ['config', 'check', '--help'], ['records', 'export', '--help'], ['mqtt', 'hash-password', '--help']]) {
    const r = await run(args);
    assert.is(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.match(r.out, new RegExp(`^usage: fillgate ${args[0]}`), `${args.join(' ')}: ${r.out}`);
  }
  const a = await run(['start', '--help']);
  const b = await run(['help', 'start']);
  assert.is(b.code, 0);
  assert.is(b.out, a.out);
  assert.match(a.out, /--config <file>/);
  const top = await run(['--help']);
  assert.match(top.out, /fillgate <command> --help/);
});

test('an unknown option exits 2 naming it and the valid options', async () => {
  const r = await run(['start', '--confg', 'x.yaml']);
  assert.is(r.code, 2);
  assert.match(r.err, /Unknown option '--confg'/);
  assert.match(r.err, /valid options: --config <value> \(-c\)/);
  const d = await run(['devices', 'watch', '--config', 'examples/gateway.yaml', '--max-second', '1']);
  assert.is(d.code, 2);
  assert.match(d.err, /valid options: .*--every <value>.*--max-seconds <value>/);
  const c = await run(['config', 'check', 'examples/gateway.yaml', '--strcit']);
  assert.is(c.code, 2, c.out + c.err);
  assert.match(c.err, /valid options: --strict/);
  const doc = await run(['doctor', '--cfg', 'x.yaml']);
  assert.is(doc.code, 2);
  assert.match(doc.err, /valid options: --config <value>, --json/);
  const rx = await run(['receiver', '--prot', '1']);
  assert.is(rx.code, 2);
  assert.match(rx.err, /valid options: --port/);
});

test('mqtt hash-password reads the password from stdin, never from the command line', async () => {
  const r = await run(['mqtt', 'hash-password'], 'S3cret pass\n');
  assert.is(r.code, 0, r.err);
  const hash = r.out.trim();
  assert.match(hash, /^scrypt\$\d+\$/);
  assert.ok(await verifyPassword('S3cret pass', hash), 'the hash is of the piped password, without its line end');
  const argv = await run(['mqtt', 'hash-password', 'S3cret']);
  assert.is(argv.code, 2);
  assert.match(argv.err, /read from stdin/);
  assert.not.match(argv.out, /scrypt/);
});

test('fillgate sim passes on --json and the warnings, and reads the console verbs on stdin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-cli-sim-'));
  const p = start(['sim', '--station', 'examples/station.yaml', '--ports-from-zero', '--json', '--no-watchdog', '--pty-dir', dir]);
  try {
    await until('the endpoints line', () => p.out().includes('\n'));
    const first = JSON.parse(p.out().split('\n')[0]) as { control: string; endpoints: Record<string, string>; warnings: string[] };
    assert.match(first.control, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(first.endpoints['P1.reader'], JSON.stringify(first));
    assert.ok(Array.isArray(first.warnings));
    p.child.stdin.write('place P1 E2000017A1B20004\n');
    p.child.stdin.write('state\n');
    await until('the state after place', () => /"code": "E2000017A1B20004"/.test(p.out()));
    p.child.stdin.write('frobnicate\n');
    await until('an error for a bad verb', () => /error: .*frobnicate|unknown/.test(p.out()));
    // The control API sees what stdin did.
    const state = (await (await fetch(`${first.control}/state`)).json()) as { posts: { id: string; cylinder?: { code: string } }[] };
    assert.is(state.posts.find((x) => x.id === 'P1')?.cylinder?.code, 'E2000017A1B20004');
    p.child.kill('SIGINT');
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('hung'), 10_000))]);
    assert.is(code, 0, p.err());
  } finally {
    p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('devices watch --max-seconds ends at once on SIGINT, devices unreachable or not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-cli-watch-'));
  const cfg = join(dir, 'gateway.yaml');
  // Nothing listens on these ports: every device offline.
  writeFileSync(
    cfg,
    JSON.stringify({
      station: { code: 'ST01', unit: 'U1' },
      dataDir: join(dir, 'data'),
      buses: { relays: { url: 'modbus-tcp://127.0.0.1:1', timeoutMs: 200 } },
      posts: [{ id: 'P1', medium: 'LPG', scale: { kind: 'stream', link: 'tcp://127.0.0.1:1', format: 'xk3190-a9' }, reader: { link: 'tcp://127.0.0.1:1' }, valve: { bus: 'relays', unit: 1, coil: 0 } }],
    }),
  );
  const p = start(['devices', 'watch', '--config', cfg, '--max-seconds', '120']);
  try {
    await until('the first health line', () => /health/.test(p.out()), 20_000);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    p.child.kill('SIGINT');
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('hung'), 15_000))]);
    assert.is(code, 0, p.out() + p.err());
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms after SIGINT`);
  } finally {
    p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fillgate wait: exit 0 once the post reaches the phase, 1 with the reason when it faults, 2 for an unknown phase', async () => {
  const t0 = Date.now();
  const server = createServer((req, res) => {
    const late = Date.now() - t0 > 800;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ posts: [{ id: 'P1', phase: late ? 'verified' : 'identified' }, { id: 'P2', phase: 'fault', reason: 'VALVE_FEEDBACK' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const ok = await run(['wait', 'P1', 'verified,cylinderReady', '--url', url, '--timeout', '20']);
    assert.is(ok.code, 0, ok.err);
    assert.ok(Date.now() - t0 >= 800, 'waited for the phase');
    assert.match(ok.out, /P1 verified/);
    const fault = await run(['wait', 'P2', 'idle', '--url', url]);
    assert.is(fault.code, 1);
    assert.match(fault.err, /P2 is in fault: VALVE_FEEDBACK/);
    const bad = await run(['wait', 'P1', 'filed', '--url', url]);
    assert.is(bad.code, 2);
    assert.match(bad.err, /unknown phase filed/);
  } finally {
    server.close();
  }
});

test.run();
