/**
 * The drivers alone against the simulator over TCP (issue 2 points 2-4, 8):
 * samples, code reads and health as `fillgate devices watch` sees them; a
 * device server dropping its link and coming back; and mbpoll, a Modbus master
 * nobody here wrote, reading the same weight the gateway's driver reports.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { missing, skipIf } from '../fixtures/needs.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { wireConfigToSim } from '../../gateway/cli/sim-wiring.ts';
import { buildDevices, type StationDevices } from '../../gateway/runtime/devices.ts';
import { systemClock } from '../../protocols/clock.ts';
import type { CodeRead, WeightSample, DeviceHealth } from '../../devices/types.ts';
import { exampleConfig } from './rig.ts';

const run = promisify(execFile);
let sim: Simulator;
let devices: StationDevices;
const samples = new Map<string, WeightSample>();
const reads: CodeRead[] = [];
const healthLog: DeviceHealth[] = [];

const until = async (what: string, fn: () => boolean, ms = 10_000) => {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test.before(async () => {
  // No scale noise: mbpoll and the driver read at different instants and must still see the same value.
  const doc = parseYaml(readFileSync('examples/station.yaml', 'utf8'));
  for (const p of doc.posts) p.scale.noiseKg = 0;
  sim = await startSimulator(doc, { portsFromZero: true });
  devices = buildDevices(wireConfigToSim(exampleConfig(), sim.deviceEndpoints()), systemClock);
  for (const d of devices.posts.values()) {
    d.scale.samples.on((s) => samples.set(s.device, s));
    d.reader.reads.on((r) => reads.push(r));
  }
  devices.checkScale!.samples.on((s) => samples.set(s.device, s));
  for (const d of devices.drivers) d.health.on((h) => healthLog.push(h));
  await devices.start();
});
test.after(async () => {
  await devices?.stop();
  await sim?.close();
});

test('every scale reports the mass the simulator shows, stable, tagged with its device id', async () => {
  sim.place('P1', 'E2000017A1B20004'); // 16.5 + 0.6 kg
  sim.place('P2', 'E2000017A1B20003'); // 13.4 + 0.8 kg
  for (const [dev, want] of [['P1.scale', 17.1], ['P2.scale', 14.2]] as const) {
    await until(`${dev} at ${want}`, () => {
      const s = samples.get(dev);
      return !!s && s.stable && Math.abs(s.grossKg - want) <= 0.05;
    });
  }
  assert.ok(samples.has('check.scale'));
  for (const h of devices.health()) assert.is(h.state, 'online', `${h.device}: ${h.lastError}`);
});

test('readers deliver cylinder codes and badges, normalised and told apart', async () => {
  sim.scan('P1', 'E2000017A1B20004');
  sim.badge('P2', 'B1001');
  await until('two reads', () => reads.length >= 2);
  const byDevice = Object.fromEntries(reads.map((r) => [r.device, r]));
  assert.equal([byDevice['P1.reader'].kind, byDevice['P1.reader'].code], ['cylinder', 'E2000017A1B20004']);
  assert.equal([byDevice['P2.reader'].kind, byDevice['P2.reader'].code], ['badge', 'B1001']);
});

test('a device server that drops its link: the scale goes offline, reconnects by itself, samples resume', async () => {
  sim.setFault({ device: 'P2.scale', kind: 'link-drop', ms: 1500 });
  await until('P2.scale offline', () => healthLog.some((h) => h.device === 'P2.scale' && h.state === 'offline'), 5000);
  const dropAt = Date.now();
  await until('P2.scale online again', () => devices.health().find((h) => h.device === 'P2.scale')!.state === 'online', 15_000);
  const since = samples.get('P2.scale')!;
  assert.ok(Date.now() - dropAt >= 1000, 'came back only after the server did');
  await until('fresh samples', () => samples.get('P2.scale') !== since);
  // The other devices were never disturbed.
  assert.is(devices.health().find((h) => h.device === 'P1.scale')!.state, 'online');
});

skipIf(test, missing('mbpoll'))('mbpoll reads the same weight from the simulated FT-112 as the gateway driver', async () => {
  const ep = sim.deviceEndpoints()['P1.scale'];
  const port = new URL(ep.url.split('#')[0]).port;
  // FT-112 gross weight at 40005 (reference 5), int32 high word first; decimals from the status word (devices.md 1.3).
  const { stdout } = await run('mbpoll', ['-m', 'tcp', '-p', port, '-a', String(ep.unitId), '-1', '-o', '2', '-r', '5', '-c', '1', '-t', '4:int', '-B', '127.0.0.1'], { timeout: 15_000 });
  const raw = Number(/^\[5\]:\s+(-?\d+)/m.exec(stdout)?.[1]);
  const gateway = samples.get('P1.scale')!.grossKg;
  assert.ok(Number.isFinite(raw), stdout);
  assert.is(raw / 100, gateway, `mbpoll ${raw} counts (0.01 kg) vs gateway ${gateway} kg`);
});

test.run();
