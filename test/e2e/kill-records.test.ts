/**
 * The gateway (`fillgate start`, a child process on a PC whose zone is UTC) killed with SIGKILL at
 * several moments of a fill (issue 13 points 1, 2, 4, 6): after the scan before the open; mid-fill
 * with the relay's watchdog off, so the cylinder overfills before the restart closes the valve; after
 * the cut-off; after the check-weigh with the checker badged; and once more after a scan, restarting
 * with a store already past its limit. After each restart: one record per scanned attempt, the
 * interrupted record carries what was known at the kill with exactly one PROCESS_INTERRUPTED trip,
 * the overfilled cylinder is recorded over its allowed mass and quarantined, every time in a record
 * has the same offset, and the chain verifies.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from '../../gateway/sqlite.ts';
import { parse as parseYaml, stringify } from 'yaml';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { wireConfigToSim } from '../../gateway/cli/sim-wiring.ts';
import type { GatewayConfig } from '../../gateway/config/config.ts';
import type { FillRecordV1 } from '../../gateway/records/record.ts';
import { exampleConfig } from './rig.ts';

const root = new URL('../..', import.meta.url).pathname;
const env = { ...process.env, TZ: 'UTC' };
/** The CLI as a child, asynchronously: the simulator runs in this process and must keep answering the gateway meanwhile. */
const cli = (args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), ...args], { cwd: root, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    ),
  );

let sim: Simulator;
let dir: string;
let cfg: GatewayConfig;
let cfgFile: string;
let gateway: ChildProcess | undefined;
let gatewayOut = '';
/** Every attempt this test started with a scan: each must end as exactly one record. */
const scanned: string[] = [];

function writeConfig(change?: (c: GatewayConfig) => void): void {
  const c = structuredClone(cfg);
  change?.(c);
  writeFileSync(cfgFile, stringify(c));
}

function startGateway(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'start', '--config', cfgFile], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env });
  gatewayOut = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`gateway did not start: ${gatewayOut}`)), 40_000);
    const on = (d: Buffer) => {
      gatewayOut += d;
      if (gatewayOut.includes('station started')) {
        clearTimeout(t);
        resolve(child);
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`gateway exited ${code}: ${gatewayOut}`));
    });
  });
}

async function kill(): Promise<void> {
  const g = gateway!;
  g.kill('SIGKILL');
  await new Promise((r) => g.once('exit', r));
  gateway = undefined;
}

const until = async <T>(what: string, fn: () => T | undefined | false, ms = 30_000): Promise<T> => {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const post = (id: string) => sim.state().posts.find((p) => p.id === id)!;

function journalHasStages(): boolean {
  const db = new Database(join(cfg.dataDir, 'records.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('PRAGMA table_info(records_in_progress)').all() as { name: string }[]).some((c) => c.name === 'stage');
  } finally {
    db.close();
  }
}

/** The gateway's in-progress journal for a post, read from its records.db (WAL: readers never block it). */
function journal(postId: string): { attempt_id: string; stage?: string } | undefined {
  const file = join(cfg.dataDir, 'records.db');
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM records_in_progress WHERE post = ?').get(postId) as { attempt_id: string; stage?: string } | undefined;
  } finally {
    db.close();
  }
}
async function atStage(postId: string, stages: string[]): Promise<void> {
  if (!journalHasStages()) {
    // A gateway without journal stages (the code before issue 13): give each step time instead, so this
    // test still runs through and shows what such a gateway records.
    await new Promise((r) => setTimeout(r, 2500));
    return;
  }
  try {
    await until(`journal of ${postId} at ${stages.join('/')}`, () => stages.includes(journal(postId)?.stage ?? ''));
  } catch (err) {
    const last = (await records()).slice(-3).map((r) => `${r.post} ${r.cylinderCode} ${r.outcome} ${JSON.stringify([...r.trips, ...r.refusals])}`);
    const sdb = new Database(join(cfg.dataDir, 'station.db'), { readonly: true });
    const latchEvents = JSON.stringify(sdb.prepare('SELECT * FROM latch_events').all());
    sdb.close();
    const log = `latch events ${latchEvents}\n` + gatewayOut.split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-8).join('\n');
    throw new Error(`${(err as Error).message}; journal ${JSON.stringify(journal(postId))}; last records: ${last.join(' | ')}\ngateway warnings:\n${log}`);
  }
}

async function records(): Promise<FillRecordV1[]> {
  const r = await cli(['records', 'export', '--config', cfgFile, '--format', 'json']);
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as FillRecordV1[];
}
const recordOf = async (code: string) => {
  const all = (await records()).filter((r) => r.cylinderCode === code);
  assert.is(all.length, 1, `one record for ${code}, got ${all.length}`);
  return all[0];
};
function cylinderStatus(code: string): string {
  const db = new Database(join(cfg.dataDir, 'station.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT status FROM cylinders WHERE code = ?').get(code) as { status: string }).status;
  } finally {
    db.close();
  }
}
/** Before each step: every scale empty (and seen empty by the gateway), the watchdog on, a gateway running. */
async function clearStation(): Promise<void> {
  const st = sim.state();
  let removed = false;
  for (const p of st.posts) if (p.cylinder) removed = !!sim.remove(p.id) || removed;
  if (st.check?.cylinder) removed = !!sim.removeCheck() || removed;
  sim.setWatchdog(true);
  if (removed) await new Promise((r) => setTimeout(r, 1000));
  gateway ??= await startGateway();
}
const processTrips = (r: FillRecordV1) => r.trips.filter((t) => t.code === 'PROCESS_INTERRUPTED');

async function scanAndVerify(postId: string, code: string): Promise<void> {
  sim.place(postId, code);
  await until(`${postId} loaded`, () => post(postId).scale.grossKg > 1);
  await new Promise((r) => setTimeout(r, 1000)); // the gateway sees the new weight settle
  sim.scan(postId, code);
  scanned.push(code);
}

test.before(async () => {
  const doc = parseYaml(readFileSync(join(root, 'examples/station.yaml'), 'utf8'));
  doc.posts[1].flowKgPerMin = 40; // P2 fills a YSP26.2 in ~15 s
  sim = await startSimulator(doc, { portsFromZero: true, ptyDir: mkdtempSync(join(tmpdir(), 'fg-pty-')) });
  dir = mkdtempSync(join(tmpdir(), 'fg-killrec-'));
  cfg = wireConfigToSim(exampleConfig(), sim.deviceEndpoints());
  cfg.dataDir = join(dir, 'data');
  cfg.http.port = 0;
  cfg.fill.autoStart = true;
  cfg.fill.preact = { ...cfg.fill.preact, initialKg: 0.3 }; // first fills of a model cut off early and top up: clear of the hard limit
  cfg.fill.staleAfterPolls = 10; // two cores shared: a 300 ms stall is the machine, not the scale
  delete (cfg.records as { utcOffsetMinutes?: number }).utcOffsetMinutes; // the PC's zone: UTC here
  cfgFile = join(dir, 'gateway.yaml');
  writeConfig();
  for (const [what, file] of [['cylinders', 'examples/cylinders.csv'], ['operators', 'examples/operators.csv']]) {
    const r = await cli(['registry', 'import', '--config', cfgFile, what, join(root, file)]);
    assert.is(r.status, 0, r.stdout + r.stderr);
  }
  gateway = await startGateway();
});

test.before.each(clearStation);

test.after(async () => {
  if (gateway) await kill().catch(() => undefined);
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('killed after the scan, before the open: the attempt is recorded as interrupted', async () => {
  const code = 'E2000017A1B20002';
  await scanAndVerify('P1', code);
  await atStage('P1', ['verified']);
  await kill();
  gateway = await startGateway();
  const r = await recordOf(code);
  assert.is(r.outcome, 'interrupted');
  assert.is(processTrips(r).length, 1);
  assert.match(processTrips(r)[0].detail ?? '', /last journalled: verified/);
  assert.is(r.model, 'YSP12', 'the registry facts known at the kill');
  assert.is(r.netFilledG, undefined, 'never filled');
  assert.is(post('P1').valve.coil, false);
});

test('killed mid-fill with the relay watchdog off: the cylinder overfills, the restart re-weighs it, records the overfill and quarantines it', async () => {
  const code = 'E2000017A1B20001'; // YSP4.7: tare 3.4 kg, allowed 2.0 kg
  sim.setWatchdog(false);
  await scanAndVerify('P1', code);
  await atStage('P1', ['verified']);
  sim.badge('P1', 'B1001');
  await until('P1 valve open', () => post('P1').valve.open);
  await atStage('P1', ['open']);
  await until('some gas in', () => post('P1').scale.grossKg > 4);
  await kill();
  // Nothing closes the valve until the gateway is back: 3.4 + 2.0 allowed, wait for 0.6 kg more.
  await until('overfilled while the gateway was down', () => post('P1').scale.grossKg >= 6.0, 20_000);
  gateway = await startGateway();
  assert.not.ok(post('P1').valve.coil, 'the restart wrote the coil OFF');
  sim.setWatchdog(true);
  const r = await recordOf(code);
  assert.is(r.outcome, 'interrupted');
  assert.is(processTrips(r).length, 1);
  assert.ok(r.reweighedNetG !== undefined && r.reweighedNetG > 2000, `re-weighed content ${r.reweighedNetG} g > allowed 2000 g`);
  assert.is(r.reweighScale, 'P1.scale');
  assert.is(r.mustDecant, true);
  assert.is(r.toleranceState, 'over');
  assert.match(processTrips(r)[0].detail ?? '', /OVER the allowed mass/);
  assert.ok((r.durationMs ?? -1) >= 0 && r.startedAt !== undefined, 'fill start known');
  assert.is(cylinderStatus(code), 'quarantined');
  assert.match(gatewayOut, /OVERFILLED cylinder E2000017A1B20001: quarantined, must decant/);
});

test('killed after the cut-off: the record carries the mass at the cut-off and the re-weigh after the restart', async () => {
  const code = 'E2000017A1B20003'; // YSP26.2 on P2: target 10.9 kg
  await scanAndVerify('P2', code);
  await atStage('P2', ['verified']);
  sim.badge('P2', 'B1001');
  await until('P2 valve opened', () => post('P2').valve.open);
  await until('P2 valve closed at the cut-off', () => !post('P2').valve.coil);
  await atStage('P2', ['cutOff', 'settled']);
  const at = journal('P2')?.stage;
  await kill();
  gateway = await startGateway();
  const r = await recordOf(code);
  assert.is(r.outcome, 'interrupted');
  assert.is(processTrips(r).length, 1);
  assert.match(processTrips(r)[0].detail ?? '', new RegExp(`last journalled: ${at}`));
  assert.ok(r.durationMs !== undefined && r.durationMs > 1000, `duration ${r.durationMs}`);
  assert.ok(r.endedAt !== undefined && r.endedAt !== r.startedAt);
  assert.ok(r.netFilledG !== undefined && r.netFilledG > 3000, `net ${r.netFilledG}`);
  assert.ok(r.reweighedNetG !== undefined && Math.abs(r.reweighedNetG - 10_900) <= 400, `re-weighed ${r.reweighedNetG}`);
  assert.is(r.mustDecant, false);
  assert.is(cylinderStatus(code), 'active');
});

test('killed after the check-weigh with the checker badged: the record has the re-weigh and the checker', async () => {
  const code = 'E2000017A1B20004'; // YSP35.5 on P2
  await scanAndVerify('P2', code);
  await atStage('P2', ['verified']);
  sim.badge('P2', 'B1001');
  await until('P2 valve opened', () => post('P2').valve.open);
  await until('P2 valve closed at the cut-off', () => !post('P2').valve.coil);
  await atStage('P2', ['settled']);
  sim.toCheck('P2');
  sim.badge('P2', 'B1002');
  await atStage('P2', ['reweighed']);
  await kill();
  gateway = await startGateway();
  const r = await recordOf(code);
  assert.is(r.outcome, 'interrupted');
  assert.is(processTrips(r).length, 1);
  assert.is(r.checker?.badge, 'B1002');
  assert.is(r.postFillCheck?.by.badge, 'B1002');
  assert.is(r.filler?.badge, 'B1001');
  assert.ok(r.reweighedGrossG !== undefined && r.reweighScale === 'check.scale', `${r.reweighedGrossG} on ${r.reweighScale}`);
  assert.ok(r.toleranceState !== undefined && r.reweighedNetG !== undefined && r.reweighedNetG > 13_000, `${r.reweighedNetG} g, ${r.toleranceState}`);
});

test('a start with the store past its limit and a journal pending succeeds and records the attempt', async () => {
  const code = 'E2000017A1B20005';
  await scanAndVerify('P1', code);
  await atStage('P1', ['verified']);
  await kill();
  writeConfig((c) => (c.records.limitBytes = 4096));
  try {
    gateway = await startGateway();
  } finally {
    writeConfig();
  }
  const r = await recordOf(code);
  assert.is(r.outcome, 'interrupted');
  assert.is(processTrips(r).length, 1);
});

test('one record per scanned attempt, one offset in every record, and the chain verifies', async () => {
  const all = await records();
  const attempts = scanned.length;
  const recorded = all.filter((r) => r.cylinderCode !== undefined && scanned.includes(r.cylinderCode)).length;
  console.log(`  kill test: ${attempts} scanned attempts, ${recorded} records (${all.filter((r) => r.outcome === 'interrupted').length} interrupted)`);
  assert.is(recorded, attempts);
  for (const r of all) {
    const times = [r.recordedAt, r.startedAt, r.endedAt, r.preFillCheck?.at, r.postFillCheck?.at, ...r.trips.map((t) => t.at)].filter((t): t is string => t !== undefined);
    for (const t of times) assert.ok(t.endsWith('+00:00'), `seq ${r.seq}: ${t} (TZ=UTC, no offset configured)`);
  }
  const verify = await cli(['records', 'verify', '--config', cfgFile]);
  assert.is(verify.status, 0, verify.stdout + verify.stderr);
});

test.run();
