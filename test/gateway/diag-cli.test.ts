/**
 * The three diagnostics commands as an integrator runs them, in a child
 * process against the simulator: output and exit codes (0 good, 1 not, 2 usage).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Simulator } from '../../sim/index.ts';
import { doctorCommand, modbusCommand, parseHex, serialCommand } from '../../gateway/cli/diag.ts';
import { diagConfig, startDiagSim } from './diag-helpers.ts';

const child = new URL('./diag-cli-child.ts', import.meta.url).pathname;
let sim: Simulator;
let dir: string;

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => p.kill(), 40_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** Writes the config as JSON (valid YAML) and returns its path. */
function configFile(name: string, cfg: object): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(cfg));
  return file;
}

test.before(async () => {
  sim = await startDiagSim();
  dir = mkdtempSync(join(tmpdir(), 'fillgate-diag-'));
});

test.after(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

test('doctor: a table and exit 0 for a healthy station; JSON and exit 1 with a wrong unit id; exit 2 without a config', async () => {
  const good = await run(['doctor', '--config', configFile('good.yaml', diagConfig(sim)), '--reads', '1', '--listen', '500']);
  assert.is(good.code, 0, good.out + good.err);
  assert.match(good.out, /^DEVICE\s+STATUS\s+RTT/);
  assert.match(good.out, /all 9 devices ok/);
  const bad = await run(['doctor', '--config', configFile('bad.yaml', diagConfig(sim, { p1ScaleUnit: 9 })), '--json', '--reads', '1', '--listen', '500']);
  assert.is(bad.code, 1, bad.err);
  const report = JSON.parse(bad.out) as { ok: boolean; devices: { id: string; status: string }[] };
  assert.is(report.ok, false);
  assert.is(report.devices.find((d) => d.id === 'P1.scale')!.status, 'unreachable');
});

test('doctor --device P1.scale checks that one device; a one-device config checks a scale without a post (issue 12 point 13)', async () => {
  const cfg = diagConfig(sim);
  const one = await run(['doctor', '--config', configFile('station.yaml', cfg), '--device', 'P1.scale', '--json', '--reads', '1', '--listen', '500']);
  assert.is(one.code, 0, one.out + one.err);
  assert.equal((JSON.parse(one.out) as { devices: { id: string }[] }).devices.map((d) => d.id), ['P1.scale']);
  const unknown = await run(['doctor', '--config', configFile('station2.yaml', cfg), '--device', 'P9.scale']);
  assert.is(unknown.code, 2);
  assert.match(unknown.err, /no device "P9\.scale".*P1\.scale, P1\.reader/);
  // Only the scale and its bus: no station, no reader, no valve.
  const p1 = cfg.posts[0]!.scale;
  const modbusOnly = { id: 'P1', buses: { mb: { url: cfg.buses.mb!.url } }, scale: p1 };
  const m = await run(['doctor', '--config', configFile('one-modbus.yaml', modbusOnly), '--json', '--reads', '1']);
  assert.is(m.code, 0, m.out + m.err);
  const mr = JSON.parse(m.out) as { devices: { id: string; status: string; detail?: string }[] };
  assert.equal(mr.devices.map((d) => [d.id, d.status]), [['P1.scale', 'ok']]);
  const stream = { scale: cfg.posts[1]!.scale };
  const st = await run(['doctor', '--config', configFile('one-stream.yaml', stream), '--json', '--listen', '500']);
  assert.is(st.code, 0, st.out + st.err);
  assert.equal((JSON.parse(st.out) as { devices: { id: string }[] }).devices.map((d) => d.id), ['scale']);
  const broken = await run(['doctor', '--config', configFile('one-bad.yaml', { scale: { kind: 'modbus', bus: 'nope', unit: 1 } })]);
  assert.is(broken.code, 2);
  assert.match(broken.err, /bus "nope" is not defined under buses:/);
});

test('modbus scan: prints the units that answer and a summary; exit 1 when none answers', async () => {
  const bus = sim.deviceEndpoints()['P1.scale']!.url.replace(/#.*$/, '');
  const r = await run(['modbus', 'scan', bus, '--from', '1', '--to', '5', '--timeout', '300']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /unit {3}1 {2}answers/);
  assert.match(r.out, /3 unit\(s\) answer on .*: 1, 2, 3/);
  const none = await run(['modbus', 'scan', bus, '--from', '7', '--to', '8', '--json']);
  assert.is(none.code, 1);
  assert.equal(JSON.parse(none.out), []);
});

test('serial sniff: A9 frames from a stream scale; a hand-made RTU poll with --crc and its reply', async () => {
  const ep = sim.deviceEndpoints();
  const a9 = await run(['serial', 'sniff', ep['P2.scale']!.url, '--format', 'xk3190-a9', '--duration', '700']);
  assert.is(a9.code, 0, a9.err);
  assert.match(a9.out, /s rx {2}02 2b 30 30 30 30 30 30 32 .*0 kg gross/);
  const rtu = ep['check.scale']!.url.replace(/^modbus-rtu-tcp:/, 'tcp:').replace(/#.*$/, '');
  const poll = await run(['serial', 'sniff', rtu, '--format', 'modbus-rtu', '--send', '05 04 00 01 00 02', '--crc', '--duration', '1500', '--json']);
  assert.is(poll.code, 0, poll.err);
  const lines = poll.out.trim().split('\n').map((l) => JSON.parse(l) as { dir: string; meaning: string; bytes: string });
  assert.ok(lines.some((l) => l.dir === 'tx' && l.meaning === 'unit 5 FC04 read input registers 1+2' && l.bytes.startsWith('050400010002')));
  assert.ok(lines.some((l) => l.dir === 'rx' && /^unit 5 FC04 input registers \[0x[0-9A-F]{4} 0x[0-9A-F]{4}\]$/.test(l.meaning)), poll.out);
});

test('usage mistakes exit 2 before touching any device (in process: they only print usage)', async () => {
  const quiet = console.error;
  console.error = () => undefined;
  try {
    assert.is(await doctorCommand([]), 2);
    assert.is(await doctorCommand(['--config', join(dir, 'missing.yaml')]), 2);
    assert.is(await doctorCommand(['--config', 'x', '--reads', 'many']), 2);
    assert.is(await doctorCommand(['--bogus']), 2);
    assert.is(await modbusCommand(['scan']), 2);
    assert.is(await modbusCommand(['scan', 'modbus-tcp://127.0.0.1:1', '--function', '6']), 2);
    assert.is(await modbusCommand(['scan', 'serial:///dev/null']), 2);
    assert.is(await serialCommand(['sniff', 'tcp://127.0.0.1:1', '--format', 'morse']), 2);
    assert.is(await serialCommand(['sniff', 'tcp://127.0.0.1:1', '--send', '0x1']), 2);
    assert.is(await serialCommand(['sniff', 'modbus-tcp://127.0.0.1:1']), 2);
    // Not a usage mistake: a bus that refuses the connection is a finding.
    assert.is(await modbusCommand(['scan', 'modbus-tcp://127.0.0.1:1', '--to', '1']), 1);
  } finally {
    console.error = quiet;
  }
});

test('parseHex accepts spaces, colons and 0x prefixes, and refuses odd or non-hex input', () => {
  assert.equal(parseHex('01 03 00:04 0x00 06'), Buffer.from([1, 3, 0, 4, 0, 6]));
  assert.throws(() => parseHex('123'), /not hex bytes/);
  assert.throws(() => parseHex('zz'), /not hex bytes/);
});

test.run();
