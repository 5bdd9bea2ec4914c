/**
 * Issue 12 point 7: a gateway started before its devices says what is true.
 * With nothing answering, the posts stay idle (no latched VALVE_FAULT needing a
 * supervisor, no "close not yet confirmed" twice a second), the valve shows
 * offline with the cause, and a scanned cylinder is refused DEVICE_OFFLINE
 * "relay module unreachable (ECONNREFUSED …)". Once the devices come up on the
 * same ports everything goes online with no stale error and a wall-clock lastOkAt.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { wireConfigToSim } from '../../gateway/cli/sim-wiring.ts';
import { Station } from '../../gateway/runtime/station.ts';
import { createLogFactory } from '../../gateway/log.ts';
import { stationStatus } from '../../gateway/http/status.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';
import { exampleConfig, importExamples } from './rig.ts';

const root = new URL('../..', import.meta.url).pathname;
const portOf = (url: string) => Number(/:(\d+)(?:[/#?]|$)/.exec(url)?.[1]);

async function until<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('started before its devices: idle and offline with the cause, fills refused with it; online without stale errors once they come', async () => {
  const doc = parseYaml(readFileSync(join(root, 'examples/station.yaml'), 'utf8'));
  const ptyDir = mkdtempSync(join(tmpdir(), 'fg-late-pty-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'fg-late-'));
  // Ports the devices will have: take free ones from a first run, then stop it.
  let sim: Simulator | undefined = await startSimulator(doc, { portsFromZero: true, ptyDir });
  const ep = sim.deviceEndpoints();
  await sim.close();
  sim = undefined;
  const config = wireConfigToSim(exampleConfig(), ep);
  config.dataDir = dataDir;
  config.http.port = 0;
  config.records.utcOffsetMinutes = 480;
  const lines: string[] = [];
  const logs = createLogFactory({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const station = new Station(config, { logs });
  const records: FillAttempt[] = [];
  try {
    await station.start();
    importExamples(station);
    station.events.on((e) => e.kind === 'record' && records.push(e.attempt));
    const relayPort = portOf(ep['P1.valve'].url);
    await until('the valve offline with its cause', () => stationStatus(station).devices.find((d) => d.device === 'P1.valve')?.lastError?.includes('ECONNREFUSED'));
    // Three seconds of nothing answering.
    await new Promise((r) => setTimeout(r, 3000));
    const s = stationStatus(station);
    assert.equal(s.latches.active, [], 'no fault latched for a module that is merely unreachable');
    assert.equal(s.posts.map((p) => p.phase), ['idle', 'idle']);
    for (const d of s.devices) {
      assert.is(d.state, 'offline', d.device);
      assert.not.match(d.lastError ?? '', /opening|reconnecting$/, `${d.device}: ${d.lastError}`);
    }
    const warnings = lines.filter((l) => /close not yet confirmed/.test(l));
    assert.ok(warnings.length <= 2, `${warnings.length} "close not yet confirmed" warnings:\n${warnings.slice(0, 4).join('')}`);
    // A cylinder scanned now is refused with the reason, not left to trip at the open.
    station.posts.get('P1')!.onRead({ device: 'P1.reader', raw: 'E2000017A1B20004', code: 'E2000017A1B20004', kind: 'cylinder', at: performance.now() });
    const refused = await until('the refusal', () => records.find((r) => r.cylinderCode === 'E2000017A1B20004'), 10_000);
    assert.is(refused.outcome, 'refused');
    const offline = refused.refusals.find((r) => r.code === 'DEVICE_OFFLINE');
    assert.ok(offline, JSON.stringify(refused.refusals));
    assert.is(offline.detail, `relay module unreachable (ECONNREFUSED 127.0.0.1:${relayPort})`);

    // The devices come up on the ports the gateway was configured with.
    const fixed = structuredClone(doc);
    fixed.buses.relays.port = relayPort;
    fixed.buses['p1-scale'].port = portOf(ep['P1.scale'].url);
    fixed.buses['check-scale'].port = portOf(ep['check.scale'].url);
    fixed.posts[0].reader.port = portOf(ep['P1.reader'].url);
    fixed.posts[1].reader.port = portOf(ep['P2.reader'].url);
    fixed.posts[1].scale.port = portOf(ep['P2.scale'].url);
    if (fixed.checkReader) fixed.checkReader.port = portOf(ep['check.reader'].url);
    fixed.control.port = 0;
    sim = await startSimulator(fixed, { ptyDir });
    await until('every device online', () => stationStatus(station).devices.every((d) => d.state === 'online'), 30_000).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(stationStatus(station).devices.filter((d) => d.state !== 'online'))}`);
    });
    const after = stationStatus(station);
    for (const d of after.devices) {
      assert.is(d.lastError, undefined, `${d.device} is online: no stale error`);
    }
    const valve = after.devices.find((d) => d.device === 'P1.valve')!;
    assert.match(String(valve.lastOkAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$/);
    assert.ok(Math.abs(Date.parse(String(valve.lastOkAt)) - Date.now()) < 10_000, `lastOkAt ${valve.lastOkAt} is a wall-clock time`);
    assert.match(after.at, /\+08:00$/, '/status says the time at the station offset');
    assert.equal(after.latches.active, []);
  } finally {
    await station.stop();
    await sim?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(ptyDir, { recursive: true, force: true });
  }
});

test.run();
