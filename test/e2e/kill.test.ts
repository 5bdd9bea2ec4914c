/**
 * The gateway process killed with SIGKILL mid-fill (issue 3 point 8, issue 9 point 8).
 *
 * Two different guarantees, tested apart so neither hides the other:
 * - the relay module's own comms watchdog de-energises the coil when the
 *   gateway goes silent (the module's behaviour; watchdog ON);
 * - the restarted gateway's first write to the coil is OFF and it records the
 *   fill as interrupted (the gateway's behaviour; watchdog OFF, so a coil that
 *   ends OFF can only have been written OFF by the gateway: domain.md section 4).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { wireConfigToSim } from '../../gateway/cli/sim-wiring.ts';
import { assertNoOnAfter, coilWrites, dump, watchdogClears, type CoilRef } from '../fixtures/wire-log.ts';
import { exampleConfig } from './rig.ts';
import { spawnGateway, type GatewayProcess } from './gateway-process.ts';

const root = new URL('../..', import.meta.url).pathname;
const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8' });

let sim: Simulator;
let dir: string;
let cfgFile: string;
let coil: CoilRef;
let gateway: GatewayProcess | undefined;

async function startGateway(): Promise<GatewayProcess> {
  const gw = spawnGateway(cfgFile);
  gateway = gw;
  await gw.started();
  // SIGTERM is handled once the status server is up.
  await gw.logged('status and metrics served');
  return gw;
}

async function stopGateway(): Promise<void> {
  gateway?.child.kill('SIGTERM');
  await gateway?.exited();
  gateway = undefined;
}

const until = async (what: string, fn: () => boolean, ms = 20_000) => {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const p1 = () => sim.state().posts.find((p) => p.id === 'P1')!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A long fill on P1 (YSP118, minutes at 18 kg/min) until gas has flowed for a second. */
async function fillingOnP1(code: string): Promise<void> {
  sim.remove('P1');
  sim.place('P1', code);
  await until('scale loaded', () => p1().scale.grossKg > 1);
  sim.scan('P1', code);
  await sleep(1500);
  sim.badge('P1', 'B1001');
  await until('valve open and gas flowing', () => p1().valve.open, 20_000);
  await sleep(1000);
}

function interruptedRecordOf(code: string): void {
  const exported = cli(['records', 'export', '--config', cfgFile, '--format', 'json']);
  assert.is(exported.status, 0, exported.stderr);
  const records = JSON.parse(exported.stdout) as { cylinderCode?: string; outcome: string; trips: { code: string }[] }[];
  const rec = records.find((r) => r.cylinderCode === code);
  assert.ok(rec, `no record for ${code}: ${exported.stdout.slice(0, 300)}`);
  assert.is(rec.outcome, 'interrupted');
  assert.ok(rec.trips.some((t) => t.code === 'PROCESS_INTERRUPTED'));
}

test.before(async () => {
  const doc = parseYaml(readFileSync(join(root, 'examples/station.yaml'), 'utf8'));
  sim = await startSimulator(doc, { portsFromZero: true, ptyDir: mkdtempSync(join(tmpdir(), 'fg-pty-')) });
  dir = mkdtempSync(join(tmpdir(), 'fg-kill-'));
  const cfg = wireConfigToSim(exampleConfig(), sim.deviceEndpoints());
  cfg.dataDir = join(dir, 'data');
  cfg.http.port = 0;
  cfg.fill.autoStart = true;
  coil = { unitId: sim.deviceEndpoints()['P1.valve']!.unitId!, coil: cfg.posts.find((p) => p.id === 'P1')!.valve.coil };
  cfgFile = join(dir, 'gateway.yaml');
  writeFileSync(cfgFile, stringify(cfg));
  for (const [what, file] of [['cylinders', 'examples/cylinders.csv'], ['operators', 'examples/operators.csv']]) {
    const r = cli(['registry', 'import', '--config', cfgFile, what, join(root, file)]);
    assert.is(r.status, 0, r.stdout + r.stderr);
  }
});

test.after(async () => {
  gateway?.child.kill('SIGKILL');
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('SIGKILL mid-fill with the module watchdog ON: the module itself clears the coil within its 2 s', async () => {
  sim.setWatchdog(true);
  const gw = await startGateway();
  await fillingOnP1('E2000017A1B20006');
  gw.child.kill('SIGKILL');
  await gw.exited();
  gateway = undefined;
  const from = sim.wire.lastSeq;
  const killedAt = performance.now();
  assert.is(p1().valve.coil, true, 'the coil is ON when the gateway dies');
  await until('watchdog cleared the coil', () => watchdogClears(sim.wire.entries({ since: from }), coil).length > 0, 6000);
  const clear = watchdogClears(sim.wire.entries({ since: from }), coil)[0]!;
  // examples/station.yaml: watchdogMs 2000 after the last request.
  assert.ok(clear.t - killedAt < 4000, `cleared ${(clear.t - killedAt).toFixed(0)} ms after the kill`);
  assert.is(coilWrites(sim.wire.entries({ since: from }), coil).length, 0, 'nobody wrote the coil: the module acted alone');
  assert.is(p1().valve.coil, false);
});

test('SIGKILL mid-fill with the module watchdog OFF: the restarted gateway writes OFF first and records the fill as interrupted', async () => {
  sim.setWatchdog(false);
  let gw = await startGateway(); // also records the first test's fill as interrupted
  const code = 'E2000017A1B20007'; // YSP118-II: a long fill
  await fillingOnP1(code);
  gw.child.kill('SIGKILL');
  await gw.exited();
  gateway = undefined;
  // Longer than the module's watchdog would take: with it off, the coil stays as the dead gateway left it.
  await sleep(2500);
  assert.is(p1().valve.coil, true, 'the coil is still ON: only the restarted gateway can close it now');

  const restartAt = performance.now();
  gw = await startGateway();
  const log = sim.wire.entries();
  const writes = coilWrites(log, coil).filter((w) => w.t >= restartAt);
  assert.ok(writes.length > 0, `the restarted gateway never wrote the coil\n${dump(log, coil)}`);
  assert.is(writes[0]!.on, false, `the restarted gateway's first write to the coil is ON\n${dump(log, coil)}`);
  assertNoOnAfter(log, coil, restartAt, 'after the restart');
  assert.is(watchdogClears(log, coil).filter((e) => e.t >= restartAt).length, 0, 'the module did not act');
  assert.is(p1().valve.coil, false, 'the restarted gateway closed the valve');
  interruptedRecordOf('E2000017A1B20006');
  interruptedRecordOf(code);
  const verify = cli(['records', 'verify', '--config', cfgFile]);
  assert.is(verify.status, 0, verify.stdout + verify.stderr);
  await stopGateway();
  sim.setWatchdog(true);
});

test.run();
