/**
 * Persistent latches (issue 9 point 4) with the real station against the simulator: the leak
 * lock, a post's fault and the store lock from a failed commit survive a restart on the same
 * data dir, and only the supervisor's recorded reset lifts them (CJ/T 394: reopening after a
 * cut-off is manual; domain.md 5).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, beginFill, type Rig } from './rig.ts';
import { mqttSchema } from '../../gateway/mqtt/config.ts';
import { hashPassword } from '../../gateway/mqtt/password.ts';
import { startSimMqttDevices, type SimMqttFleet } from '../../sim/mqtt/index.ts';
import { freePort } from '../gateway/mqtt-support.ts';
import { stationStatus } from '../../gateway/http/status.ts';
import { uploadConfigSchema } from '../../gateway/records/config.ts';

let rig: Rig;
let fleet: SimMqttFleet;
const devices = [
  { kind: 'leak-detector' as const, id: 'ld-P1', password: 'pw-ld', location: 'P1' },
  { kind: 'cutoff-valve' as const, id: 'cv-main', password: 'pw-cv', location: 'yard' },
];
const SUPERVISOR = 'B1009';

test.before(async () => {
  // A fixed broker port: the simulated detectors reconnect to the restarted station by themselves.
  const port = await freePort();
  rig = await startRig({
    stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 20)),
    tweak: (cfg) => {
      cfg.fill.autoStart = true;
      cfg.eligibility.minRefillIntervalMs = 0;
      cfg.mqtt = mqttSchema.parse({
        broker: { host: '127.0.0.1', port, devices: devices.map((d) => ({ id: d.id, kind: d.kind, passwordHash: hashPassword(d.password, 1024), location: d.location })) },
      });
    },
  });
  fleet = await startSimMqttDevices(
    { station: rig.config.station.code, devices: devices.map(({ location: _l, ...d }) => ({ ...d, stateEveryMs: 500 })) },
    `mqtt://127.0.0.1:${port}`,
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
const locked = (lock: string) => rig.station.lockState.some((l) => l.lock === lock);
const latchEvents = () => stationStatus(rig.station).latches.history as { latch: string; action: string; by: string; reason: string }[];

/** Scan at a post with the cylinder on its scale and wait for that scan's record (a refusal). */
async function refusalAt(post: string, code: string) {
  const before = rig.records.length;
  rig.sim.place(post, code);
  await rig.until(`${post} loaded`, () => simPost(post).scale.grossKg > 1);
  rig.sim.scan(post, code);
  const rec = await rig.until(`${post} refusal`, () => rig.records.slice(before).find((r) => r.cylinderCode === code));
  rig.sim.remove(post);
  await rig.until(`${post} empty`, () => simPost(post).scale.grossKg < 1);
  return rec;
}

async function badgeSupervisor(post: string): Promise<void> {
  // Past the reader's duplicate window (1.5 s), so each badge counts as a new read.
  await new Promise((r) => setTimeout(r, 1600));
  rig.sim.badge(post, SUPERVISOR);
}

test('the leak lock survives a restart; only the supervisor reset lifts it, and the reset is recorded', async () => {
  fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 60 });
  await rig.until('leak lock', () => locked('leak'), 5000);
  fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 2 }); // gas gone, the lock stays latched
  await rig.restartGateway();
  assert.ok(locked('leak'), `still locked at once after the restart: ${JSON.stringify(rig.station.lockState)}`);
  assert.ok(rig.station.mqtt!.leak.locked, 'the interlock itself is latched');
  const rec = await refusalAt('P2', 'E2000017A1B20003');
  assert.ok(rec.refusals.some((r) => r.code === 'STATION_LOCKED_LEAK'), JSON.stringify(rec.refusals));
  const listed = stationStatus(rig.station).latches.active as { latch: string }[];
  assert.ok(listed.some((l) => l.latch === 'leak'), JSON.stringify(listed));
  await rig.until('detectors reported after the restart', () => Object.values(rig.station.mqtt!.leak.interlock.state.detectors).every((d) => d.lastAt !== undefined), 10_000);
  await badgeSupervisor('P2');
  await rig.until('leak lock lifted by the reset', () => !locked('leak') && !rig.station.mqtt!.leak.locked, 5000);
  assert.ok(latchEvents().some((e) => e.latch === 'leak' && e.action === 'lift' && e.by === SUPERVISOR), JSON.stringify(latchEvents()));
  assert.is(rig.station.mqtt!.leak.interlock.state.lastReset?.badge, SUPERVISOR);
});

test('a post in fault stays in fault across a restart until a supervisor resets it', async () => {
  const code = 'E2000017A1B20004';
  await beginFill(rig, 'P1', code);
  await rig.until('P1 filling', () => simPost('P1').valve.open, 20_000);
  rig.sim.setFault({ device: 'P1.scale', kind: 'no-answer' });
  const rec = await rig.until('trip record', () => last(code), 10_000);
  assert.ok(rec.trips.some((t) => t.code === 'STALE_WEIGHT'), JSON.stringify(rec.trips));
  assert.is(rig.phase('P1'), 'fault');
  rig.sim.clearFaults();
  rig.sim.remove('P1');
  await rig.restartGateway();
  assert.is(rig.phase('P1'), 'fault', 'still in fault after the restart');
  const ph = rig.station.posts.get('P1')!.snapshot.phase as { reason?: string };
  assert.is(ph.reason, 'STALE_WEIGHT');
  const refused = await refusalAt('P1', 'E2000017A1B20005');
  assert.ok(refused.refusals.some((r) => r.code === 'POST_IN_FAULT'), JSON.stringify(refused.refusals));
  await badgeSupervisor('P1');
  await rig.until('P1 reset', () => rig.phase('P1') === 'idle', 5000);
  assert.ok(latchEvents().some((e) => e.latch === 'post:P1' && e.action === 'lift' && e.by === SUPERVISOR), JSON.stringify(latchEvents()));
});

test('the store lock from a failed commit survives a restart until a supervisor resets it', async () => {
  const store = rig.station.store;
  const append = store.append.bind(store);
  store.append = () => {
    throw new Error('SQLITE_IOERR: disk I/O error (test)');
  };
  rig.sim.place('P2', 'E2000017A1B20003');
  await rig.until('P2 loaded', () => simPost('P2').scale.grossKg > 1);
  rig.sim.scan('P2', 'E2000017A1B29999'); // not registered: a refusal, whose record cannot be committed
  await rig.until('store lock', () => locked('store'), 5000);
  store.append = append;
  rig.sim.remove('P2');
  await rig.restartGateway();
  assert.ok(locked('store'), `store lock still on after the restart: ${JSON.stringify(rig.station.lockState)}`);
  const rec = await refusalAt('P2', 'E2000017A1B20003');
  assert.ok(rec.refusals.some((r) => r.code === 'STATION_LOCKED_STORE'), JSON.stringify(rec.refusals));
  await badgeSupervisor('P2');
  await rig.until('store lock lifted by the reset', () => !locked('store'), 5000);
  assert.ok(latchEvents().some((e) => e.latch === 'store' && e.action === 'lift' && e.by === SUPERVISOR), JSON.stringify(latchEvents()));
});

test('the upload lock is not a latch: recomputed from the store before any post starts, so no fill slips in after a restart', async () => {
  // The records of the tests above were never uploaded; with a 1 s lock age they are overdue.
  rig.config.upload = uploadConfigSchema.parse({ url: 'http://127.0.0.1:9/', timeliness: { lockAgeMs: 1000 } });
  await rig.restartGateway();
  assert.ok(locked('upload'), JSON.stringify(rig.station.lockState));
  for (const rt of rig.station.posts.values()) assert.ok(rt.snapshot.ctx.locks.includes('upload'), `${rt.id} started with the upload lock`);
  const rec = await refusalAt('P2', 'E2000017A1B20003');
  assert.ok(rec.refusals.some((r) => r.code === 'STATION_LOCKED_UPLOAD'), JSON.stringify(rec.refusals));
});

test.run();
