/** The fill-valve driver against the fake unit: fail-safe open/close, retries, keep-alive, feedback faults. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeModbusUnit, eventually } from './fake-modbus-unit.ts';
import { FillgateError, isFillgateError } from '../../protocols/errors.ts';
import { ManualClock } from '../../protocols/clock.ts';
import type { ValveState } from '../../devices/types.ts';
import { ModbusValveDriver, type ModbusValveOptions } from '../../devices/valve/modbus-valve.ts';
import { tcpRig } from './modbus-tcp-rig.ts';

const COIL = 3;
const FB = 7; // discrete input: true = closed-position switch made

interface Rig {
  unit: FakeModbusUnit;
  valve: ModbusValveDriver;
  faults: { code: string; message: string; at: number }[];
  states: ValveState[];
  /** Make the feedback follow the coil after a delay (ms), or stop following (undefined). */
  follow(delayMs: number | undefined): void;
  coilWrites(): boolean[];
}

function rig(opts: Partial<ModbusValveOptions> = {}, withFeedback = true): Rig {
  const unit = new FakeModbusUnit();
  unit.discrete[FB] = true;
  let followDelay: number | undefined = 10;
  unit.onWriteCoil = (address, value) => {
    if (address !== COIL || followDelay === undefined) return;
    setTimeout(() => {
      // Re-checked when it fires, so a test that stops following is not overridden later.
      if (followDelay !== undefined) unit.discrete[FB] = !value;
    }, followDelay);
  };
  const valve = new ModbusValveDriver({
    id: 'post1.valve',
    unit,
    coil: COIL,
    ...(withFeedback ? { feedback: { kind: 'discrete', address: FB, closedWhen: true } } : {}),
    confirmTimeoutMs: 150,
    retryMs: 10,
    clock: new ManualClock(7),
    ...opts,
  });
  const faults: Rig['faults'] = [];
  const states: ValveState[] = [];
  valve.faults.on((f) => faults.push(f));
  valve.stateChange.on((s) => states.push(s.state));
  return {
    unit,
    valve,
    faults,
    states,
    follow: (d) => (followDelay = d),
    coilWrites: () => unit.callsOf('writeCoil').filter((c) => !c.dropped).map((c) => c.value as boolean),
  };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<FillgateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isFillgateError(err), String(err));
    assert.is((err as FillgateError).code, code);
    return err as FillgateError;
  }
  throw new Error(`expected a rejection with ${code}`);
}

test('start() writes the coil OFF first, even if it was left ON', async () => {
  const r = rig();
  r.unit.coils[COIL] = true;
  r.unit.discrete[FB] = false;
  await r.valve.start();
  const first = r.unit.calls[0]!;
  assert.equal([first.op, first.address, first.value], ['writeCoil', COIL, false]);
  assert.is(r.unit.coils[COIL], false);
  assert.is(r.valve.state, 'closed');
  await r.valve.stop();
});

test('open confirmed by feedback: coil ON, state opening then open', async () => {
  const r = rig();
  await r.valve.start();
  await r.valve.open();
  assert.is(r.unit.coils[COIL], true);
  assert.is(r.valve.state, 'open');
  assert.equal(r.states, ['opening', 'open']);
  assert.equal(r.faults, []);
  await r.valve.open(); // already open: no second write
  assert.equal(r.coilWrites(), [false, true]);
  await r.valve.stop();
  assert.is(r.unit.coils[COIL], false);
});

test('open not confirmed: fault, coil OFF, state fault, rejection NOT_CONFIRMED', async () => {
  const r = rig();
  await r.valve.start();
  r.follow(undefined); // feedback stuck at closed
  await rejectsWith(r.valve.open(), 'NOT_CONFIRMED');
  assert.is(r.unit.coils[COIL], false);
  assert.equal(r.coilWrites().slice(-2), [true, false]);
  assert.is(r.valve.state, 'fault');
  assert.is(r.faults[0]?.code, 'VALVE_NOT_CONFIRMED');
  assert.is(r.faults[0]?.at, 7, 'stamped with the injected clock');
  // close() acknowledges the fault.
  r.follow(10);
  await r.valve.close('operator reset');
  assert.is(r.valve.state, 'closed');
  await r.valve.stop();
});

test('open without feedback: the coil write is the confirmation; a failed write rejects and closes', async () => {
  const r = rig({}, false);
  await r.valve.start();
  await r.valve.open();
  assert.is(r.valve.state, 'open');
  await r.valve.close('done');
  r.unit.failNextCount = 1;
  await rejectsWith(r.valve.open(), 'NOT_CONFIRMED');
  assert.is(r.faults[0]?.code, 'VALVE_WRITE');
  assert.is(r.unit.coils[COIL], false);
  assert.is(r.valve.state, 'fault');
  await r.valve.stop();
});

test('close is retried on write failure until confirmed, emitting faults', async () => {
  const r = rig();
  await r.valve.start();
  await r.valve.open();
  let failures = 0;
  r.unit.failWhen = (c) => (c.op === 'writeCoil' && c.value === false && failures++ < 3 ? new Error('bus timeout') : undefined);
  await r.valve.close('target reached');
  assert.is(r.unit.coils[COIL], false);
  assert.is(r.valve.state, 'closed');
  assert.is(r.faults.filter((f) => f.code === 'VALVE_WRITE').length, 3);
  assert.ok(r.states.includes('fault') && r.states[r.states.length - 1] === 'closed', r.states.join(','));
  await r.valve.stop();
});

test('close rejects after closeTimeoutMs while the module is offline, and keeps retrying until it answers', async () => {
  const r = rig({ closeTimeoutMs: 100 }, false);
  await r.valve.start();
  await r.valve.open();
  r.unit.failAll = true;
  await rejectsWith(r.valve.close('stop pressed'), 'NOT_CONFIRMED');
  const attempts = r.unit.callsOf('writeCoil').length;
  await eventually(() => r.unit.callsOf('writeCoil').length > attempts + 1, 5000, 'more close retries');
  r.unit.failAll = false;
  await eventually(() => r.valve.state === 'closed', 5000, 'closed after recovery');
  assert.is(r.unit.coils[COIL], false);
  await r.valve.stop();
});

test('close() during opening wins: open rejects and the coil ends OFF', async () => {
  const r = rig();
  await r.valve.start();
  r.follow(100); // slow valve
  const opening = r.valve.open();
  await eventually(() => r.unit.coils[COIL] === true, 5000, 'coil ON');
  const closing = r.valve.close('stop button');
  // close went to the wire without waiting for the open's confirmation
  assert.is(r.coilWrites()[r.coilWrites().length - 1], false);
  await rejectsWith(opening, 'NOT_CONFIRMED');
  await closing;
  assert.is(r.unit.coils[COIL], false);
  assert.is(r.valve.state, 'closed');
  await r.valve.stop();
});

test('an open overtaken by a close whose ON lands after the OFF: the driver writes OFF again and confirms', async () => {
  const r = rig({}, false);
  await r.valve.start();
  // A module (or device server) that applies the ON late, after the close's OFF.
  r.unit.delayFor = (c) => (c.op === 'writeCoil' && c.value === true ? 40 : 0);
  const opening = r.valve.open();
  await r.valve.close('stop button');
  await rejectsWith(opening, 'NOT_CONFIRMED');
  assert.is(r.unit.coils[COIL], false, `coil writes ${JSON.stringify(r.coilWrites())}`);
  assert.equal(r.coilWrites().slice(-3), [true, false, false]);
  assert.is(r.valve.state, 'closed');
  await r.valve.stop();
});

test('an ON the bus drops unsent (SUPERSEDED) needs no second OFF; a dropped keep-alive is no fault', async () => {
  const r = rig({ keepAliveMs: 10 }, false);
  await r.valve.start();
  let superseded = 0;
  r.unit.failWhen = (c) => (c.op === 'writeCoil' && c.value === true && superseded++ < 3 ? new FillgateError('SUPERSEDED', 'dropped') : undefined);
  // The open's ON is dropped as if a close had overtaken it: with no close, that is a write failure.
  await rejectsWith(r.valve.open(), 'NOT_CONFIRMED');
  assert.is(r.faults[0]?.code, 'VALVE_WRITE');
  await r.valve.close('reset');
  r.faults.length = 0;
  r.unit.failWhen = undefined;
  await r.valve.open();
  // Keep-alive ONs dropped by the bus (a close was decided meanwhile) are not faults.
  r.unit.failWhen = (c) => (c.op === 'writeCoil' && c.value === true ? new FillgateError('SUPERSEDED', 'dropped') : undefined);
  const n = r.unit.callsOf('writeCoil').length;
  await eventually(() => r.unit.callsOf('writeCoil').length > n + 2, 5000, 'keep-alives');
  assert.equal(r.faults, []);
  assert.is(r.valve.state, 'open');
  await r.valve.stop();
});

test('close is idempotent and open is refused while closing or before start', async () => {
  const r = rig();
  await rejectsWith(r.valve.open(), 'NOT_CONFIRMED');
  await r.valve.start();
  await r.valve.open();
  const a = r.valve.close('x');
  const b = r.valve.close('y');
  await rejectsWith(r.valve.open(), 'NOT_CONFIRMED');
  await Promise.all([a, b, r.valve.close('z')]);
  assert.is(r.valve.state, 'closed');
  assert.is(r.unit.coils[COIL], false);
  await r.valve.stop();
});

test('keep-alive rewrites the commanded state periodically', async () => {
  const r = rig({ keepAliveMs: 20 }, false);
  await r.valve.start();
  await eventually(() => r.coilWrites().filter((v) => v === false).length >= 3, 5000, 'OFF rewrites');
  await r.valve.open();
  const ons = () => r.coilWrites().filter((v) => v === true).length;
  await eventually(() => ons() >= 3, 5000, 'ON rewrites');
  await r.valve.stop();
  const n = r.unit.calls.length;
  await new Promise((res) => setTimeout(res, 80));
  assert.is(r.unit.calls.length, n, 'no writes after stop');
  assert.is(r.unit.coils[COIL], false);
});

test('a failed keep-alive while open is a fault and closes the valve', async () => {
  const r = rig({ keepAliveMs: 20 }, false);
  await r.valve.start();
  await r.valve.open();
  r.unit.failNextCount = 1;
  await eventually(() => r.valve.state === 'fault' && r.unit.coils[COIL] === false, 5000, 'closed after keep-alive failure');
  assert.is(r.faults[0]?.code, 'VALVE_KEEPALIVE');
  await r.valve.stop();
});

test('feedback mismatch while open (valve closed by itself) is VALVE_FEEDBACK and the coil goes OFF', async () => {
  const r = rig({ feedbackPollMs: 10 });
  await r.valve.start();
  await r.valve.open();
  r.unit.discrete[FB] = true; // closed-position switch made while commanded open
  await eventually(() => r.faults.some((f) => f.code === 'VALVE_FEEDBACK'), 5000, 'feedback fault');
  await eventually(() => r.unit.coils[COIL] === false && !r.valve['closing'], 5000, 'coil OFF');
  assert.is(r.valve.state, 'fault');
  await r.valve.stop();
});

test('feedback mismatch while closed (valve open though commanded closed) is VALVE_FEEDBACK and OFF is rewritten', async () => {
  const r = rig({ feedbackPollMs: 10 });
  await r.valve.start();
  const offWrites = () => r.coilWrites().filter((v) => v === false).length;
  const before = offWrites();
  r.follow(undefined);
  r.unit.discrete[FB] = false; // stuck open
  await eventually(() => r.faults.some((f) => f.code === 'VALVE_FEEDBACK'), 5000, 'feedback fault');
  await eventually(() => offWrites() > before, 5000, 'OFF rewritten');
  assert.is(r.valve.state, 'fault');
  r.unit.discrete[FB] = true; // it finally closes
  await eventually(() => r.valve['closing'] === undefined, 5000, 'close loop done');
  assert.is(r.faults.filter((f) => f.code === 'VALVE_FEEDBACK').length, 1, 'one fault per mismatch episode');
  await r.valve.stop();
});

test('after stop(), close() still goes to the wire, and rejects if the module does not answer', async () => {
  const r = rig({ closeTimeoutMs: 200 }, false);
  await r.valve.start();
  await r.valve.stop();
  const n = r.coilWrites().length;
  await r.valve.close('late close');
  assert.is(r.coilWrites().length, n + 1);
  r.unit.failAll = true;
  await rejectsWith(r.valve.close('late close, module gone'), 'NOT_CONFIRMED');
  assert.is(r.valve.state, 'fault');
});

test('bad configuration is refused', () => {
  const unit = new FakeModbusUnit();
  assert.throws(() => new ModbusValveDriver({ id: 'v', unit, coil: -1 }), (e: unknown) => isFillgateError(e, 'BAD_CONFIG'));
  assert.throws(() => new ModbusValveDriver({ id: 'v', unit, coil: 1, keepAliveMs: 0 }), (e: unknown) => isFillgateError(e, 'BAD_CONFIG'));
});

test('over a real Modbus TCP connection: start forces OFF, open is confirmed by feedback, close confirmed', async () => {
  const rig = await tcpRig();
  const coils = rig.units.coils.get(1)!;
  coils[5] = true; // left ON by a previous run
  // FakeUnits' discrete input 5 is the inverse of coil 5: true = closed.
  const valve = new ModbusValveDriver({
    id: 'tcp.valve',
    unit: rig.unit,
    coil: 5,
    feedback: { kind: 'discrete', address: 5, closedWhen: true },
    keepAliveMs: 50,
    confirmTimeoutMs: 1000,
  });
  const faults: string[] = [];
  valve.faults.on((f) => faults.push(f.code));
  await valve.start();
  assert.is(coils[5], false);
  await valve.open();
  assert.is(coils[5], true);
  assert.is(valve.state, 'open');
  await valve.close('done');
  assert.is(coils[5], false);
  assert.is(valve.state, 'closed');
  await valve.stop();
  await rig.close();
  assert.equal(faults, []);
});

test.run();
