/**
 * MQTT station devices against the real embedded broker and the real posts
 * (issue 4 point 3, issue 3 point 8): a leak alarm mid-fill, the cut-off valve,
 * the supervisor's reset, an angle valve bound to another cylinder, a tamper.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, beginFill, type Rig } from './rig.ts';
import { mqttSchema } from '../../gateway/mqtt/config.ts';
import { hashPassword } from '../../gateway/mqtt/password.ts';
import { startSimMqttDevices, type SimMqttFleet, type SimCutoffValve } from '../../sim/mqtt/index.ts';

let rig: Rig;
let fleet: SimMqttFleet;
const devices = [
  { kind: 'leak-detector' as const, id: 'ld-P1', password: 'pw-ld', location: 'P1' },
  { kind: 'cutoff-valve' as const, id: 'cv-main', password: 'pw-cv', location: 'yard' },
  { kind: 'angle-valve' as const, id: 'V0004', password: 'pw-v4' },
  { kind: 'angle-valve' as const, id: 'V0005', password: 'pw-v5' },
];

test.before(async () => {
  rig = await startRig({
    stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 20)),
    tweak: (cfg) => {
      cfg.fill.autoStart = true;
      cfg.mqtt = mqttSchema.parse({
        broker: { host: '127.0.0.1', port: 0, devices: devices.map((d) => ({ id: d.id, kind: d.kind, passwordHash: hashPassword(d.password, 1024), ...(d.location ? { location: d.location } : {}) })) },
      });
    },
  });
  const url = `mqtt://127.0.0.1:${rig.station.mqtt!.broker.ports.tcp}`;
  fleet = await startSimMqttDevices(
    { station: rig.config.station.code, devices: devices.map(({ location: _l, ...d }) => ({ ...d, stateEveryMs: 500, ...(d.kind === 'angle-valve' ? { boundCode: `E2000017A1B2000${d.id.slice(-1)}` } : {}) })) },
    url,
  );
  await rig.until('devices connected', () => rig.station.mqtt!.broker.connectedDevices().length === devices.length, 10_000);
  await rig.until('no leak lock once detectors report clear', () => !rig.station.mqtt!.leak.locked, 10_000);
});
test.after(async () => {
  await fleet?.stop();
  await rig?.close();
});

const simPost = (id: string) => rig.sim.state().posts.find((p) => p.id === id)!;
const last = (code: string) => [...rig.records].reverse().find((r) => r.cylinderCode === code);

test('a smart angle valve bound to another cylinder refuses the fill (pocket code)', async () => {
  fleet.act({ atMs: 0, device: 'V0005', action: 'bind', code: 'E2000017A1B20099' });
  await new Promise((r) => setTimeout(r, 300));
  rig.sim.place('P2', 'E2000017A1B20005');
  await rig.until('P2 loaded', () => simPost('P2').scale.grossKg > 1);
  rig.sim.scan('P2', 'E2000017A1B20005');
  const rec = await rig.until('record', () => last('E2000017A1B20005'));
  assert.ok(rec.refusals.some((r) => r.code === 'VALVE_CODE_MISMATCH'), JSON.stringify(rec.refusals));
  rig.sim.remove('P2');
});

test('leak level 2 mid-fill: valve closed, LEAK_ALARM recorded, cut-off valve closed, new fills refused, manual reset', async () => {
  const code = 'E2000017A1B20004';
  await beginFill(rig, 'P1', code);
  await rig.until('filling', () => simPost('P1').valve.open, 20_000);
  fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 60 });
  await rig.until('valve closed', () => !simPost('P1').valve.coil, 5000);
  const rec = await rig.until('record', () => last(code));
  assert.ok(rec.trips.some((t) => t.code === 'LEAK_ALARM'), JSON.stringify(rec.trips));
  assert.ok(rig.station.lockState.some((l) => l.lock === 'leak'));
  const cutoff = fleet.get<SimCutoffValve>('cv-main');
  await rig.until('cut-off valve closed', () => (cutoff.state() as { state: string }).state === 'closed', 10_000);
  // A new fill at the other post is refused while locked.
  rig.sim.place('P2', 'E2000017A1B20003');
  await rig.until('P2 loaded', () => simPost('P2').scale.grossKg > 1);
  rig.sim.scan('P2', 'E2000017A1B20003');
  const refused = await rig.until('P2 refusal', () => last('E2000017A1B20003'));
  assert.ok(refused.refusals.some((r) => r.code === 'STATION_LOCKED_LEAK'), JSON.stringify(refused.refusals));
  // The supervisor's reset is refused while gas is still present, accepted once it has cleared.
  rig.sim.badge('P2', 'B1009');
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(rig.station.mqtt!.leak.locked, 'still locked while the alarm is active');
  fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 2 });
  // Past the reader's duplicate window (1.5 s), so the second badge counts as a new read.
  await new Promise((r) => setTimeout(r, 2000));
  rig.sim.badge('P2', 'B1009');
  await rig.until(`lock lifted by the reset (${JSON.stringify(rig.station.mqtt!.leak.interlock.state)})`, () => !rig.station.mqtt!.leak.locked, 5000);
  assert.ok(!rig.station.lockState.some((l) => l.lock === 'leak'));
  rig.sim.remove('P2');
  rig.sim.remove('P1');
});

test('post status is published on the station broker as the phase changes', async () => {
  const seen: { topic: string; body: { locked?: boolean; state?: string; post?: string } }[] = [];
  const root = `fillgate/${rig.config.station.code}`;
  // A tap on the station broker (on this thread or in its worker, mqtt.broker.thread): what a local subscriber would get.
  await rig.station.mqtt!.broker.tap(`${root}/#`, (topic, payload) => seen.push({ topic, body: JSON.parse(payload.toString()) }));
  rig.sim.place('P2', 'E2000017A1B20002');
  await rig.until('P2 loaded', () => simPost('P2').scale.grossKg > 1);
  rig.sim.scan('P2', 'E2000017A1B20002');
  await rig.until('a P2 status', () => seen.some((m) => m.topic === `${root}/post/P2/status` && m.body.state === 'identified'));
  rig.sim.remove('P2');
  await rig.until('the attempt ends', () => ['idle', 'aborted'].includes(rig.phase('P2')) || rig.phase('P2') === 'verified');
});

test('a tamper report quarantines the bound cylinder in the registry', async () => {
  fleet.act({ atMs: 0, device: 'V0004', action: 'tamper' });
  await rig.until('quarantined', () => rig.station.registry.getCylinder('E2000017A1B20004')?.status === 'quarantined', 5000);
  assert.ok(rig.station.registry.events({ subject: 'E2000017A1B20004' }).length > 0, 'the change is logged');
});

test.run();
