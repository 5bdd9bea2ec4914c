import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AngleValveMonitor, type QuarantineRequest } from '../../gateway/leak/angle-valve.ts';
import { ModbusLeakDetector, decodeLeakChannel, type LeakReading } from '../../devices/leak/detector.ts';
import { ModbusCutoffValve } from '../../devices/leak/cutoff.ts';
import { LeakService } from '../../gateway/leak/service.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { Signal } from '../../protocols/signal.ts';
import type { DeviceHealth, ModbusUnit } from '../../protocols/modbus/types.ts';
import type { AngleValveState } from '../../gateway/mqtt/topics.ts';

const base: AngleValveState = { valve: 'closed', boundCode: 'CYL-1', tamper: false, decanting: false, batteryPct: 90, rssi: -60 };

test('angle valve: check refuses a scanned code that differs from the bound code; unknown or unbound valves pass', () => {
  const m = new AngleValveMonitor({ clock: new ManualClock() });
  assert.equal(m.check('V1', 'CYL-1'), { ok: true, known: false });
  m.handle({ kind: 'angle-valve', device: 'V1', channel: 'state', data: base });
  assert.equal(m.check('V1', 'CYL-1'), { ok: true, known: true, boundCode: 'CYL-1' });
  const r = m.check('V1', 'CYL-POCKET');
  assert.is(r.ok, false);
  assert.is(!r.ok && r.code, 'VALVE_CODE_MISMATCH');
  m.handle({ kind: 'angle-valve', device: 'V1', channel: 'event', data: { event: 'unbound' } });
  assert.equal(m.check('V1', 'CYL-POCKET'), { ok: true, known: true, boundCode: null });
});

test('angle valve: tamper and decanting quarantine the bound cylinder once per report, with the event; a throwing registry is counted', () => {
  const calls: [string, string, string][] = [];
  let fail = false;
  const m = new AngleValveMonitor({
    clock: new ManualClock(),
    registry: {
      quarantine(code, reason, source) {
        if (fail) throw new Error('db locked');
        calls.push([code, reason, source]);
      },
    },
  });
  const q: QuarantineRequest[] = [];
  m.quarantines.on((r) => q.push(r));
  m.handle({ kind: 'angle-valve', device: 'V1', channel: 'state', data: base });
  m.handle({ kind: 'angle-valve', device: 'V1', channel: 'state', data: { ...base, tamper: true } });
  m.handle({ kind: 'angle-valve', device: 'V1', channel: 'state', data: { ...base, tamper: true } }); // same flag again: no new request
  m.handle({ kind: 'angle-valve', device: 'V1', channel: 'event', data: { event: 'decanting', detail: 'flow out while closed' } });
  assert.equal(calls, [['CYL-1', 'tamper', 'angle-valve:V1'], ['CYL-1', 'decanting', 'angle-valve:V1']]);
  assert.is(q[1].detail, 'flow out while closed');
  fail = true;
  m.handle({ kind: 'angle-valve', device: 'V1', channel: 'event', data: { event: 'tamper' } });
  assert.is(m.registryErrors, 1);
  assert.is(q.length, 3);
  assert.match(q[2].detail!, /registry error/);
});

/** A ModbusUnit over plain arrays, with a switch to make every request fail. */
function fakeUnit(): ModbusUnit & { regs: number[]; inputs: boolean[]; coils: boolean[]; failing: boolean } {
  const health: DeviceHealth = { device: 'fake', state: 'online', framesDiscarded: 0, requests: 0, failures: 0 };
  const u = {
    unitId: 1, busUrl: 'modbus-tcp://fake', regs: new Array(32).fill(0), inputs: new Array(8).fill(false), coils: new Array(8).fill(false), failing: false,
    health: new Signal<DeviceHealth>(), getHealth: () => health,
    async readHoldingRegisters(a: number, n: number) { if (u.failing) throw new Error('timeout'); return u.regs.slice(a, a + n); },
    async readInputRegisters(a: number, n: number) { if (u.failing) throw new Error('timeout'); return u.regs.slice(a, a + n); },
    async readCoils(a: number, n: number) { if (u.failing) throw new Error('timeout'); return u.coils.slice(a, a + n); },
    async readDiscreteInputs(a: number, n: number) { if (u.failing) throw new Error('timeout'); return u.inputs.slice(a, a + n); },
    async writeCoil(a: number, v: boolean) { if (u.failing) throw new Error('timeout'); u.coils[a] = v; if (a === 0 && v) u.inputs[0] = true; },
    async writeCoils(a: number, v: boolean[]) { if (u.failing) throw new Error('timeout'); v.forEach((x, i) => (u.coils[a + i] = x)); },
    async writeRegister(a: number, v: number) { u.regs[a] = v; },
    async writeRegisters(a: number, v: number[]) { v.forEach((x, i) => (u.regs[a + i] = x)); },
  };
  return u;
}

test('Modbus detector: decodes %LEL and status bits, or levels from set-points; a failed poll emits nothing', async () => {
  assert.equal(decodeLeakChannel(120, 0b001, { lelScale: 0.1 }), { lel: 12, level: 1, fault: false });
  assert.equal(decodeLeakChannel(300, 0b110, { lelScale: 0.1 }), { lel: 30, level: 2, fault: true });
  assert.equal(decodeLeakChannel(26, undefined, {}), { lel: 26, level: 1, fault: false });
  assert.equal(decodeLeakChannel(2000, undefined, {}), { lel: 100, level: 2, fault: true });
  const u = fakeUnit();
  const d = new ModbusLeakDetector({ id: 'ctl', unit: u, clock: new ManualClock(), lelScale: 0.1, channels: [{ device: 'ld1', lelRegister: 0, statusRegister: 1 }, { device: 'ld2', lelRegister: 2 }] });
  const got: LeakReading[] = [];
  d.readings.on((r) => got.push(r));
  u.regs[0] = 80; u.regs[1] = 0; u.regs[2] = 510;
  await d.pollOnce();
  assert.equal(got.map((r) => [r.device, r.lel, r.level]), [['ld1', 8, 0], ['ld2', 51, 2]]);
  u.failing = true;
  let errors = 0;
  d.pollErrors.on(() => errors++);
  await d.pollOnce();
  assert.is(got.length, 2);
  assert.is(errors, 2);
});

test('Modbus cut-off valve and detector feed the same interlock: level 2 → close coil → feedback closed → acknowledged', async () => {
  const clock = new ManualClock();
  const u = fakeUnit();
  const detector = new ModbusLeakDetector({ id: 'ctl', unit: u, clock, channels: [{ device: 'ld1', lelRegister: 0 }] });
  const valve = new ModbusCutoffValve({ id: 'cv1', unit: u, clock, closeCoil: 0, feedback: { kind: 'discrete', address: 0, closedWhen: true } });
  const leak = new LeakService({
    clock,
    settings: { detectors: ['ld1'], cutoffs: ['cv1'], silentAfterMs: 10_000, cutoffAckTimeoutMs: 1000, cutoffRetries: 2 },
    actuators: { cv1: { close: () => valve.close() } },
  });
  detector.readings.on((r) => leak.apply({ type: 'reading', ...r }));
  valve.states.on((s) => leak.apply({ type: 'cutoff', device: s.device, state: s.state, at: s.at }));
  const alarms: string[] = [];
  leak.alarms.on((a) => alarms.push(`${a.kind}:${a.active}`));
  u.regs[0] = 60;
  await detector.pollOnce();
  assert.ok(leak.locked);
  for (let i = 0; i < 20 && leak.interlock.state.cutoffs.cv1.phase !== 'closed'; i++) await new Promise((r) => setImmediate(r));
  assert.is(u.coils[0], true);
  assert.is(leak.interlock.state.cutoffs.cv1.phase, 'closed');
  assert.equal(alarms, ['leak:true', 'cutoff_closed:true']);
  // The supervisor cannot reset while the gas is there; can once it is gone.
  assert.is(leak.reset('SUP').ok, false);
  u.regs[0] = 0;
  await detector.pollOnce();
  assert.equal(leak.reset('SUP'), { ok: true, reasons: [] });
});

test('Modbus cut-off: a write failure is counted by the service and retried on the next tick', async () => {
  const clock = new ManualClock();
  const u = fakeUnit();
  u.failing = true;
  const valve = new ModbusCutoffValve({ id: 'cv1', unit: u, clock, closeCoil: 0, feedback: { kind: 'discrete', address: 0, closedWhen: true } });
  const leak = new LeakService({
    clock,
    settings: { detectors: ['ld1'], cutoffs: ['cv1'], silentAfterMs: 10_000, cutoffAckTimeoutMs: 1000, cutoffRetries: 1 },
    actuators: { cv1: { close: () => valve.close() } },
  });
  leak.apply({ type: 'reading', device: 'ld1', level: 2, fault: false, at: 0 });
  await new Promise((r) => setImmediate(r));
  assert.is(leak.actuatorErrors, 1);
  u.failing = false;
  clock.advance(1000);
  leak.apply({ type: 'tick', at: clock.now() });
  valve.states.on((s) => leak.apply({ type: 'cutoff', device: s.device, state: s.state, at: s.at }));
  for (let i = 0; i < 20 && leak.interlock.state.cutoffs.cv1.phase !== 'closed'; i++) await new Promise((r) => setImmediate(r));
  assert.is(leak.interlock.state.cutoffs.cv1.phase, 'closed');
});

test.run();
