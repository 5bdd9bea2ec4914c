/**
 * The second, independent limit (issue 9 point 7) end to end: the real station and the
 * simulator over Modbus TCP. P1's indicator gets a setpoint register in both the simulator's
 * own map and the gateway's (generic preset + overrides, each from its own side), and the
 * station wires its setpoint output to cut P1's valve power (valve.cutBySetpoint).
 *   (a) every open is preceded on the wire by the setpoint write (tare + allowed, in counts)
 *       and its read-back, then the coil ON;
 *   (b) an indicator that ignores the write: the open is refused with SETPOINT_LIMIT and no
 *       coil ON reaches the wire;
 *   (c) a welded relay contact (the gateway's cut-off cannot act): the setpoint output closes
 *       the valve at the limit, so the cylinder stays within limit + in-flight.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeValue } from '../../protocols/modbus/registers.ts';
import { startRig, beginFill, type Rig } from './rig.ts';
import type { WireEntry } from '../../sim/wire/wire-log.ts';

const SETPOINT = 4;
const FLOW_KG_PER_MIN = 30;
let rig: Rig;

test.before(async () => {
  rig = await startRig({
    stationTweak: (doc) => {
      for (const p of doc.posts) p.flowKgPerMin = FLOW_KG_PER_MIN;
      const p1 = doc.posts[0];
      // The simulator's own map: int32 weight at 0 (kg × 100), status at 2 (bit 0 motion, bit 1 overload), setpoint 1 at 4/5.
      p1.scale.registerMap = { weightAddress: 0, type: 'int32', decimals: 2, statusAddress: 2, motionBit: 0, overloadBit: 1, setpointAddress: SETPOINT };
      p1.valve.cutBySetpoint = true;
    },
    tweak: (cfg) => {
      cfg.eligibility.minRefillIntervalMs = 0;
      cfg.posts[0]!.reader.dedupMs = 100; // the filler's badge again within seconds, in the next test
      const s = cfg.posts[0]!.scale;
      if (s.kind !== 'modbus') throw new Error('P1 must be a Modbus scale');
      // The gateway's side: no setpointLimit key, so the default (on where the map has a setpoint) is what is tested.
      cfg.posts[0]!.scale = {
        ...s,
        preset: 'generic',
        overrides: {
          weight: { address: 0, type: 'int32', wordOrder: 'big', kind: 'gross' },
          decimals: 2,
          status: { address: 2, type: 'uint16', motion: { bit: 0 }, overload: [{ bit: 1 }] },
          setpoint: { address: SETPOINT, type: 'int32' },
        },
      };
    },
  });
});
test.after(async () => {
  await rig?.close();
});

const simPost = () => rig.sim.state().posts.find((p) => p.id === 'P1')!;
const lastRecord = (code: string) => [...rig.records].reverse().find((r) => r.cylinderCode === code);
const scaleBus = () => rig.config.posts[0]!.scale as { bus: string; unit: number };
const valveRef = () => ({ bus: rig.config.posts[0]!.valve.bus, unitId: rig.config.posts[0]!.valve.unit, coil: rig.config.posts[0]!.valve.coil });

/** Wire requests since `since`: setpoint writes/reads on P1's indicator and coil writes to P1's valve, in wire order. */
function wireSince(since: number): { setpointWrites: WireEntry[]; setpointReads: WireEntry[]; coilOn: WireEntry[]; all: WireEntry[] } {
  const sb = scaleBus();
  const v = valveRef();
  const all = rig.sim.wire.entries({ kind: 'request', since });
  const onScale = (e: WireEntry) => e.bus === sb.bus && e.unitId === sb.unit;
  return {
    all,
    setpointWrites: all.filter((e) => onScale(e) && (e.fc === 6 || e.fc === 16) && e.address !== undefined && e.address >= SETPOINT && e.address <= SETPOINT + 1),
    setpointReads: all.filter((e) => onScale(e) && e.fc === 3 && e.address === SETPOINT),
    coilOn: all.filter((e) => e.bus === v.bus && e.unitId === v.unitId && ((e.fc === 5 && e.address === v.coil && e.value === true) || (e.fc === 15 && e.values?.[v.coil - (e.address ?? 0)] === true))),
  };
}

async function startFill(code: string): Promise<number> {
  await beginFill(rig, 'P1', code);
  await rig.until('P1 ready', () => rig.phase('P1') === 'cylinderReady');
  const since = rig.sim.wire.lastSeq;
  rig.sim.press('P1', 'start', 300);
  return since;
}

async function recover(): Promise<void> {
  rig.sim.clearFaults();
  if (simPost().cylinder) rig.sim.remove('P1');
  await rig.until('P1 empty', () => (rig.station.posts.get('P1')!.snapshot.ctx.last?.grossKg ?? 99) < 1);
  if (rig.phase('P1') === 'fault') {
    rig.sim.badge('P1', 'B1009'); // supervisor resets the post
    await rig.until('P1 reset', () => rig.phase('P1') === 'idle');
  }
}

test('(a) a normal fill: setpoint written at tare + allowed, read back, and only then the coil ON', async () => {
  const code = 'E2000017A1B20001'; // YSP4.7: tare 3.4 + allowed 2 = 5.4 kg gross limit
  const since = await startFill(code);
  await rig.until('valve open in the simulator', () => simPost().valve.open, 10_000);
  const w = wireSince(since);
  assert.is(w.setpointWrites.length, 1, JSON.stringify(w.setpointWrites));
  const write = w.setpointWrites[0]!;
  assert.is(write.fc, 16);
  assert.equal(write.values, encodeValue(540, { type: 'int32' }), 'tare 3.4 + allowed 2 = 5.40 kg = 540 counts');
  const read = w.setpointReads.find((e) => e.seq > write.seq);
  assert.ok(read, 'read back after the write');
  assert.is(read.count, 2);
  assert.ok(w.coilOn.length > 0, 'coil ON reached the wire');
  assert.ok(write.seq < read.seq && read.seq < w.coilOn[0]!.seq, `order on the wire: write ${write.seq}, read ${read.seq}, ON ${w.coilOn[0]!.seq}`);
  assert.equal(simPost().setpoint, { kg: 5.4, output: false });

  await rig.until('checked', () => rig.phase('P1') === 'checked' || rig.phase('P1') === 'fault', 60_000);
  assert.is(rig.phase('P1'), 'checked', JSON.stringify(lastRecord(code)));
  // The gateway's own cut-off acted first: the indicator's output never switched.
  assert.equal(rig.sim.wire.entries({ kind: 'setpoint', since }), []);
  rig.sim.toCheck('P1');
  rig.sim.badge('P1', 'B1002');
  await rig.until('re-weighed', () => rig.phase('P1') === 'reweighed');
  rig.sim.removeCheck();
  const rec = await rig.until('record', () => lastRecord(code));
  assert.is(rec.outcome, 'filled');
  assert.equal(rec.trips, []);
});

test('(b) an indicator that ignores the setpoint write: open refused with SETPOINT_LIMIT, no coil ON on the wire', async () => {
  await recover();
  const code = 'E2000017A1B20002'; // YSP12: 6.5 + 5 = 11.5 kg; the register still holds 5.40 from (a)
  rig.sim.setFault({ device: 'P1.scale', kind: 'ignore-setpoint' });
  const since = await startFill(code);
  const rec = await rig.until('record', () => lastRecord(code), 10_000);
  assert.is(rec.outcome, 'tripped');
  const trip = rec.trips.find((t) => t.code === 'SETPOINT_LIMIT');
  assert.ok(trip, JSON.stringify(rec.trips));
  assert.match(trip.detail ?? '', /read back as 5.4 kg, wrote 11.5 kg/);
  assert.is(rig.phase('P1'), 'fault');
  await new Promise((r) => setTimeout(r, 300)); // anything late would show now
  const w = wireSince(since);
  assert.is(w.setpointWrites.length, 1, 'the write was sent');
  assert.ok(w.setpointReads.some((e) => e.seq > w.setpointWrites[0]!.seq), 'and read back');
  assert.equal(w.coilOn, [], 'no coil ON ever reached the wire');
  assert.is(simPost().valve.open, false);
  assert.is(simPost().cylinder!.gasKg, 0.4, 'not a gram of gas');
});

test('(c) welded relay contact: the setpoint output cuts the valve power at the limit, within limit + in-flight', async () => {
  await recover();
  const code = 'E2000017A1B20003'; // YSP26.2: tare 13.4 + allowed 11 = 24.4 kg gross limit
  const since = await startFill(code);
  await rig.until('valve open', () => simPost().valve.open, 10_000);
  // From now on the gateway's OFF writes reach the module but not the valve.
  rig.sim.setFault({ device: 'P1.valve', kind: 'welded-relay' });
  const cut = await rig.until('setpoint output on', () => rig.sim.wire.entries({ kind: 'setpoint', since }).find((e) => e.on), 60_000);
  assert.is(cut.value, 24.4);
  assert.equal(cut.devices, ['P1.scale']);
  await rig.until('valve closed by the setpoint output', () => !simPost().valve.open, 5000);
  await new Promise((r) => setTimeout(r, 500));
  const s = simPost();
  assert.is(s.valve.setpointCut, true);
  assert.is(s.valve.open, false);
  // In flight after the limit: the close delay (120 ms), an indicator update (100 ms) and the 10 ms check at 0.5 kg/s, plus a division.
  const inFlightKg = (FLOW_KG_PER_MIN / 60) * (0.12 + 0.1 + 0.03) + 0.02;
  assert.ok(s.cylinder!.gasKg <= 11 + inFlightKg, `gas ${s.cylinder!.gasKg} kg, allowed 11 kg + ${inFlightKg.toFixed(3)} in flight`);
  // The gateway saw it too: the fill ended with a trip on record, the post in fault.
  const rec = await rig.until('record', () => lastRecord(code), 10_000);
  assert.ok(rec.outcome === 'tripped' || rec.outcome === 'overfilled', rec.outcome);
  assert.is(rig.phase('P1'), 'fault');
  await recover();
});

test.run();
