/**
 * Modbus gas detectors and an emergency cut-off valve against the real gateway (issue 10,
 * "every filling rule enforced"; seeds 001/003/004, domain.md 5): the simulator serves an IGD
 * TOC-635-style detector controller (unit 3) and the cut-off valve's trip coil and feedback (coil
 * and input 6 of the fill valves' relay module, unit 1) on the same Modbus TCP connection as the
 * fill valves. Level 2 mid-fill: the fill valve's coil goes OFF on the wire, LEAK_ALARM is
 * recorded, the cut-off coil is energised and its feedback acknowledged, new fills and resets are
 * refused until the gas has gone; a detector that stops answering locks the station.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, beginFill, type Rig } from './rig.ts';
import { leakDetectorSchema, cutoffValveSchema } from '../../gateway/config/leak-devices.ts';
import { stationStatus } from '../../gateway/http/status.ts';
import { assertNoOnAfter, assertReceivedOffAfter, coilWrites, type WireEntry } from '../fixtures/wire-log.ts';
import type { Alarm } from '../../gateway/mqtt/topics.ts';
import { runDoctor } from '../../gateway/diag/doctor.ts';

let rig: Rig;
const alarms: Alarm[] = [];
const FILL = { bus: 'relays', unitId: 1, coil: 0 };
const CUTOFF = { bus: 'relays', unitId: 1, coil: 6 };

test.before(async () => {
  rig = await startRig({
    stationTweak: (doc) => {
      doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 20));
      doc.gasDetectors = [{ id: 'GD1', bus: 'relays', unitId: 3, registerMap: 'igd-toc635', sensors: ['ld-P1', 'ld-yard'] }];
      doc.cutoffValves = [{ id: 'cv-main', bus: 'relays', unitId: 1, coil: 6, feedbackInput: 6, closeDelayMs: 300 }];
    },
    preWire: (cfg) => {
      cfg.leakDetectors = [
        leakDetectorSchema.parse({ id: 'GD1', bus: 'relays', unit: 3, preset: 'igd-toc635', pollMs: 200, channels: [{ id: 'ld-P1', channel: 1, location: 'P1' }, { id: 'ld-yard', channel: 2, location: 'yard' }] }),
      ];
      cfg.cutoffValves = [cutoffValveSchema.parse({ id: 'cv-main', bus: 'relays', unit: 1, coil: 6, feedback: { kind: 'discrete', address: 6, closedWhen: true }, pollMs: 200, location: 'yard' })];
      cfg.leak = { silentAfterMs: 1500, cutoffAckTimeoutMs: 1000, cutoffRetries: 3 };
    },
    tweak: (cfg) => {
      cfg.fill.autoStart = true;
    },
  });
  rig.station.leak!.alarms.on((a) => alarms.push(a));
  await rig.until('both detectors reported clear', () => Object.values(rig.station.leak!.interlock.state.detectors).every((d) => d.lastAt !== undefined && d.level === 0), 10_000);
  assert.ok(!rig.station.leak!.locked, 'no leak lock once the detectors report clear');
});
test.after(async () => {
  await rig?.close();
});

const simPost = (id: string) => rig.sim.state().posts.find((p) => p.id === id)!;
const last = (code: string) => [...rig.records].reverse().find((r) => r.cylinderCode === code);
const log = (since = 0) => rig.sim.wire.entries({ since });

/** The reply to each FC02 read of `address` on unit 1 (the bus has one request on the wire at a time). */
function inputReads(entries: WireEntry[], address: number): { seq: number; value: boolean }[] {
  const out: { seq: number; value: boolean }[] = [];
  entries.forEach((e, i) => {
    if (e.kind !== 'request' || e.unitId !== 1 || e.fc !== 2 || e.address !== address) return;
    const reply = entries.slice(i + 1).find((r) => r.kind === 'reply' && r.conn === e.conn && r.bus === e.bus);
    if (reply?.values) out.push({ seq: reply.seq, value: reply.values[0] === true });
  });
  return out;
}

test('status, metrics and device health show the Modbus detector controller and the cut-off valve', () => {
  const s = stationStatus(rig.station);
  const ids = s.devices.map((d) => d.device);
  assert.ok(ids.includes('GD1') && ids.includes('cv-main'), ids.join(', '));
  assert.is(s.devices.find((d) => d.device === 'GD1')!.state, 'online');
  assert.equal(Object.keys(s.leak!.detectors).sort(), ['ld-P1', 'ld-yard']);
  assert.is(s.leak!.cutoffs['cv-main']!.phase, 'open');
});

test('fillgate doctor reads the detector channels and the cut-off feedback (read-only)', async () => {
  const gd = (await runDoctor(rig.config, { device: 'GD1' })).devices;
  assert.equal(gd.map((d) => [d.id, d.role, d.status]), [['GD1', 'detector', 'ok']]);
  assert.is(gd[0]!.detail, 'ld-P1 0 %LEL level 0, ld-yard 0 %LEL level 0');
  const cv = (await runDoctor(rig.config, { device: 'cv-main' })).devices;
  assert.equal(cv.map((d) => [d.id, d.role, d.status, d.detail]), [['cv-main', 'cutoff', 'ok', 'trip coil 6 OFF, feedback discrete 6 OFF = open']]);
});

test('level 2 mid-fill: fill coil OFF on the wire, LEAK_ALARM, cut-off energised and acknowledged, fills and resets refused until clear', async () => {
  const code = 'E2000017A1B20004';
  await beginFill(rig, 'P1', code);
  await rig.until('P1 filling', () => simPost('P1').valve.open, 20_000);
  const since = rig.sim.wire.lastSeq;
  rig.sim.gas('ld-P1', { lel: 60 });
  const gas = log(since).find((e) => e.kind === 'gas')!;
  assert.equal([gas.reason, gas.value, gas.count], ['ld-P1', 60, 2]);

  await rig.until('fill valve coil OFF', () => !simPost('P1').valve.coil, 5000);
  const off = assertReceivedOffAfter(log(since), FILL, gas.t, 'fill valve on a level-2 leak');
  const rec = await rig.until('the fill record', () => last(code));
  assert.ok(rec.trips.some((t) => t.code === 'LEAK_ALARM'), JSON.stringify(rec.trips));
  assert.ok(rig.station.lockState.some((l) => l.lock === 'leak'));

  // The cut-off valve's trip coil is energised (its close command), the valve closes, its feedback says so.
  await rig.until('cut-off acknowledged', () => rig.station.leak!.interlock.state.cutoffs['cv-main']!.phase === 'closed', 10_000);
  const entries = log(since);
  const trip = coilWrites(entries, CUTOFF).find((w) => w.on && w.t >= gas.t);
  assert.ok(trip, 'the cut-off coil was written ON (close) on the wire');
  const closed = entries.find((e) => e.kind === 'cutoff' && e.on === true && e.devices?.includes('cv-main.cutoff'));
  assert.ok(closed && closed.seq > trip!.seq, 'the valve closed after its coil was energised');
  assert.ok(inputReads(entries, 6).some((r) => r.seq > closed!.seq && r.value), 'the feedback input read closed after it closed');
  assert.ok(alarms.some((a) => a.kind === 'cutoff_closed' && a.device === 'cv-main' && a.active));
  assert.ok(alarms.some((a) => a.kind === 'leak' && a.device === 'ld-P1' && a.level === 2 && a.location === 'P1'));
  assertNoOnAfter(log(since), FILL, off.t, 'fill valve after the leak close');

  // A new fill at the other post is refused while locked.
  rig.sim.place('P2', 'E2000017A1B20003');
  await rig.until('P2 loaded', () => simPost('P2').scale.grossKg > 1);
  rig.sim.scan('P2', 'E2000017A1B20003');
  const refused = await rig.until('P2 refusal', () => last('E2000017A1B20003'));
  assert.ok(refused.refusals.some((r) => r.code === 'STATION_LOCKED_LEAK'), JSON.stringify(refused.refusals));

  // The supervisor's reset is refused while the gas is there, and the refusal is kept.
  rig.sim.badge('P2', 'B1009');
  await rig.until('reset refused', () => rig.station.latches.history(20).some((h) => h.latch === 'leak' && h.action === 'refused' && h.by === 'B1009'), 5000);
  assert.ok(rig.station.leak!.locked, 'still locked while the alarm is active');
  rig.sim.gas('ld-P1', { lel: 2 });
  await rig.until('ld-P1 clear', () => rig.station.leak!.interlock.state.detectors['ld-P1']!.level === 0, 5000);
  // Past the reader's duplicate window (1.5 s), so the second badge is a new read.
  await new Promise((r) => setTimeout(r, 1700));
  const beforeReset = rig.sim.wire.lastSeq;
  rig.sim.badge('P2', 'B1009');
  await rig.until('lock lifted by the reset', () => !rig.station.leak!.locked, 5000);
  assert.ok(!rig.station.lockState.some((l) => l.lock === 'leak'));
  assert.ok(rig.station.latches.history(20).some((h) => h.latch === 'leak' && h.action === 'lift' && h.by === 'B1009'), 'the reset is recorded with the badge');
  assert.is(rig.station.leak!.interlock.state.lastReset?.badge, 'B1009');

  // The gateway never reopens the cut-off valve: it releases the trip coil, and a person reopens the valve.
  await rig.until('trip coil released', () => coilWrites(log(beforeReset), CUTOFF).some((w) => !w.on), 5000);
  assert.ok(rig.sim.state().leak.cutoffs[0]!.closed, 'still closed after the reset');
  assert.equal(rig.sim.reopenCutoff('cv-main'), { closed: false });
  await rig.until('interlock sees it open again', () => rig.station.leak!.interlock.state.cutoffs['cv-main']!.phase === 'open', 5000);
  rig.sim.remove('P2');
  rig.sim.remove('P1');
});

test('a detector controller that stops answering locks the station as silent, with the reason', async () => {
  rig.sim.setFault({ device: 'GD1.detector', kind: 'no-answer' });
  await rig.until('leak lock', () => rig.station.lockState.some((l) => l.lock === 'leak'), 8000);
  const latch = rig.station.latches.get('leak')!;
  assert.match(latch.detail ?? '', /ld-P1: silent/);
  assert.ok(alarms.some((a) => a.kind === 'detector_silent' && a.device === 'ld-yard' && a.active));
  assert.ok(rig.sim.wire.entries({ kind: 'ignored', device: 'GD1.detector' }).length > 0, 'the controller ignored the polls');
  // Refused while silent; accepted once it answers again and says clear.
  assert.is(rig.station.leak!.reset('B1009').ok, false);
  rig.sim.clearFaults('GD1.detector');
  await rig.until('detectors report again', () => Object.values(rig.station.leak!.interlock.state.detectors).every((d) => !d.silent), 10_000);
  assert.ok(rig.station.leak!.reset('B1009').ok);
});

test.run();
