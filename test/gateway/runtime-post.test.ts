/**
 * PostRuntime's own safety duties around the store (gateway/runtime/post.ts):
 * a journal that cannot be written keeps the valve closed; a record that
 * cannot be committed keeps the journal, so the restart records the attempt.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { systemClock } from '../../protocols/clock.ts';
import { Signal } from '../../protocols/signal.ts';
import type { CodeRead, DeviceHealth, ReaderDriver, ScaleDriver, ValveDriver, ValveState, WeightSample } from '../../devices/types.ts';
import { controllerConfig } from '../../gateway/controller/index.ts';
import { PostRuntime, type PostEnv } from '../../gateway/runtime/post.ts';
import { silentLogs } from '../../gateway/log.ts';

const health = (device: string): DeviceHealth => ({ device, state: 'online', framesDiscarded: 0, requests: 0, failures: 0 });
const driver = (id: string) => ({ id, health: new Signal<DeviceHealth>(), getHealth: () => health(id), start: async () => undefined, stop: async () => undefined });

class FakeValve implements ValveDriver {
  readonly id = 'P1.valve';
  readonly health = new Signal<DeviceHealth>();
  readonly stateChange = new Signal<{ state: ValveState; reason?: string }>();
  readonly faults = new Signal<{ code: string; message: string; at: number }>();
  state: ValveState = 'closed';
  opens = 0;
  closes: string[] = [];
  getHealth = () => health(this.id);
  start = async () => undefined;
  stop = async () => undefined;
  async open() {
    this.opens++;
    this.state = 'open';
  }
  async close(reason: string) {
    this.closes.push(reason);
    this.state = 'closed';
  }
}

function rig(env: Partial<PostEnv>, setpointLimit?: { programLimit(grossKg: number): Promise<number> }) {
  const scale = { ...driver('P1.scale'), samples: new Signal<WeightSample>() } as ScaleDriver;
  const reader = { ...driver('P1.reader'), reads: new Signal<CodeRead>() } as ReaderDriver;
  const valve = new FakeValve();
  const calls: string[] = [];
  const full: PostEnv = {
    clock: systemClock,
    log: silentLogs('test'),
    verify: async (_p, code) => ({ kind: 'verified', cylinder: { code, model: 'YSP12', tareKg: 6.5, allowedFillKg: 5, medium: 'LPG', residualKg: 0.3 } }),
    lookupOperator: (badge) => ({ person: { badge }, roles: ['filler', 'checker'], certificateValid: true }),
    commit: () => void calls.push('commit'),
    markInProgress: (_post, _attempt, opts) => void calls.push(opts?.stage ? `mark:${opts.stage}` : 'mark'),
    clearInProgress: () => void calls.push('clear'),
    savePreact: () => undefined,
    storeFailed: () => void calls.push('storeFailed'),
    ...env,
  };
  const rt = new PostRuntime(controllerConfig({ station: 'S', unit: 'U', post: 'P1', medium: 'LPG' }, { autoStart: true, stepChangeKg: 10 /* samples jump here: not a swap (a huge maxFlowKgPerMin would make the first, conservative cut-off absurd) */ }), { scale, reader, valve, ...(setpointLimit ? { setpointLimit } : {}) }, full, {}, []);
  rt.start();
  const sample = (grossKg: number) => scale.samples.emit({ device: 'P1.scale', grossKg, stable: true, overload: false, at: performance.now() });
  const read = (code: string, kind: 'cylinder' | 'badge') => reader.reads.emit({ device: 'P1.reader', raw: code, code, kind, at: performance.now() });
  return { rt, valve, calls, sample, read };
}

async function toReady(r: ReturnType<typeof rig>) {
  for (let i = 0; i < 4; i++) r.sample(6.8);
  r.read('C1', 'cylinder');
  await new Promise((res) => setTimeout(res, 20));
  r.read('B1', 'badge');
  for (let i = 0; i < 4; i++) r.sample(6.8);
}

test('a journal write that fails keeps the valve closed and locks the store', async () => {
  const r = rig({
    markInProgress: () => {
      throw new Error('disk I/O error');
    },
  });
  await toReady(r);
  assert.is(r.valve.opens, 0, 'the valve never opened');
  assert.ok(r.calls.includes('storeFailed'));
  r.rt.stop();
});

test('a record that cannot be committed leaves the journal for the restart to record', async () => {
  const r = rig({
    commit: () => {
      throw new Error('database or disk is full');
    },
  });
  await toReady(r);
  assert.is(r.valve.opens, 1, 'filling');
  r.rt.input({ kind: 'stop' });
  assert.ok(r.valve.closes.includes('OPERATOR_STOP'));
  await new Promise((res) => setTimeout(res, 5));
  assert.ok(r.calls.includes('storeFailed'));
  assert.ok(r.calls.includes('mark:open'));
  assert.not.ok(r.calls.includes('clear'), 'the in-progress journal is kept');
  r.rt.stop();
});

test('normally the journal is cleared after the record is committed', async () => {
  const r = rig({});
  await toReady(r);
  r.rt.input({ kind: 'stop' });
  await new Promise((res) => setTimeout(res, 5));
  assert.equal(r.calls.filter((c) => c !== 'storeFailed'), ['mark:scan', 'mark:verified', 'mark:ready', 'mark:open', 'commit', 'clear']);
  r.rt.stop();
});

test('the cut-off is journalled, but only after the close has gone out: not in the closing step, once the event loop has turned', async () => {
  const r = rig({});
  const close = r.valve.close.bind(r.valve);
  r.valve.close = async (reason: string) => {
    r.calls.push(`close:${reason}`);
    return close(reason);
  };
  await toReady(r);
  assert.is(r.valve.opens, 1, 'filling');
  r.sample(11.35); // YSP12, a first fill: cut-off at tare 6.5 + target 4.9 − 30 kg/min × the largest plausible lag and room for a pulse (≈ 0.3 kg)
  assert.is(r.rt.snapshot.phase.kind, 'cutOff');
  assert.is(r.calls.at(-1), 'close:TARGET', 'nothing written in the step that closed the valve');
  await new Promise((res) => setTimeout(res, 5));
  assert.equal(r.calls.slice(-2), ['close:TARGET', 'mark:cutOff']);
  r.rt.stop();
});

test('a trip closes the valve before its record is committed: the commit waits for the event loop to turn (issue 14)', async () => {
  const r = rig({});
  const close = r.valve.close.bind(r.valve);
  r.valve.close = async (reason: string) => {
    r.calls.push(`close:${reason}`);
    return close(reason);
  };
  await toReady(r);
  assert.is(r.valve.opens, 1, 'filling');
  r.rt.input({ kind: 'stop' });
  assert.is(r.calls.at(-1), 'close:OPERATOR_STOP', 'no commit in the step that closed the valve');
  await new Promise((res) => setTimeout(res, 5));
  assert.equal(r.calls.slice(-3), ['close:OPERATOR_STOP', 'commit', 'clear']);
  r.rt.stop();
});

/** A setpoint step that waits until the test lets it go. */
function pendingLimit() {
  const asked: number[] = [];
  let settle: { resolve: (kg: number) => void; reject: (e: Error) => void } | undefined;
  const limit = {
    programLimit: (grossKg: number) => {
      asked.push(grossKg);
      return new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
    },
  };
  return { limit, asked, settle: () => settle! };
}
const tick = () => new Promise((res) => setTimeout(res, 10));

test('setpoint limit: the valve opens only after the setpoint was programmed at tare + allowed', async () => {
  const p = pendingLimit();
  const r = rig({}, p.limit);
  await toReady(r);
  assert.equal(p.asked, [6.5 + 5]);
  assert.is(r.valve.opens, 0, 'not before the read-back');
  p.settle().resolve(11.5);
  await tick();
  assert.is(r.valve.opens, 1);
  r.rt.stop();
});

test('setpoint limit: a failed read-back never opens and trips with SETPOINT_LIMIT', async () => {
  const p = pendingLimit();
  const records: string[] = [];
  const r = rig({ commit: (a) => void records.push(JSON.stringify(a.trips)) }, p.limit);
  await toReady(r);
  p.settle().reject(new Error('P1.scale: setpoint read back as 5.4 kg, wrote 11.5 kg'));
  await tick();
  assert.is(r.valve.opens, 0);
  assert.is(r.rt.snapshot.phase.kind, 'fault');
  assert.match(records.join(), /SETPOINT_LIMIT.*read back as 5.4 kg/);
  r.rt.stop();
});

test('setpoint limit: a stop while the setpoint is being programmed wins; the open is dropped', async () => {
  const p = pendingLimit();
  const r = rig({}, p.limit);
  await toReady(r);
  r.rt.input({ kind: 'stop' });
  p.settle().resolve(11.5);
  await tick();
  assert.is(r.valve.opens, 0, 'never opened after the stop');
  assert.ok(r.valve.closes.includes('OPERATOR_STOP'));
  r.rt.stop();
});

test('an unreachable relay module at an idle post is not a latched fault; the same after a fill, with the cylinder still there, is (issue 12 point 7)', async () => {
  const r = rig({});
  const writeFailed = () => r.valve.faults.emit({ code: 'VALVE_WRITE', message: 'P1.valve: close: coil write failed: connect ECONNREFUSED 127.0.0.1:15020', at: 0 });
  for (let i = 0; i < 4; i++) writeFailed();
  assert.is(r.rt.snapshot.phase.kind, 'idle', 'idle stays idle: the driver keeps retrying the close itself');
  assert.equal(r.valve.closes, [], 'no extra close per fault report');
  // A feedback mismatch is still a fault, idle or not.
  r.valve.faults.emit({ code: 'VALVE_FEEDBACK', message: 'feedback says open while commanded closed', at: 0 });
  assert.is(r.rt.snapshot.phase.kind, 'fault');
  r.rt.stop();

  const after = rig({});
  await toReady(after);
  assert.is(after.valve.opens, 1);
  after.rt.input({ kind: 'stop' }); // aborted, the cylinder still on the scale
  after.valve.faults.emit({ code: 'VALVE_WRITE', message: 'close: coil write failed', at: 0 });
  assert.is(after.rt.snapshot.phase.kind, 'fault', 'a close that cannot be written right after a fill stays a fault');
  after.rt.stop();
});

test('an open the post itself closed before it was confirmed is not a valve fault; an open that fails on its own is', async () => {
  // As ModbusValveDriver: the open waits for its feedback, and a close meanwhile makes it reject
  // "closed while opening" (a short top-up pulse or a cut-off under a slow bus).
  const slowValve = (r: ReturnType<typeof rig>) => {
    let reject: ((e: Error) => void) | undefined;
    r.valve.open = () => {
      r.valve.opens++;
      r.valve.state = 'opening';
      return new Promise<void>((_res, rej) => (reject = rej));
    };
    const close = r.valve.close.bind(r.valve);
    r.valve.close = async (reason: string) => {
      reject?.(new Error('valve not confirmed: closed while opening'));
      return close(reason);
    };
    return (e: Error) => reject?.(e);
  };
  const r = rig({});
  slowValve(r);
  await toReady(r);
  assert.is(r.valve.opens, 1, 'opening');
  r.sample(11.35); // the cut-off, before the open was confirmed
  await new Promise((res) => setTimeout(res, 5));
  assert.is(r.rt.snapshot.phase.kind, 'cutOff', `not a fault: ${JSON.stringify(r.rt.snapshot.phase)}`);
  r.rt.stop();

  const r2 = rig({});
  const fail = slowValve(r2);
  await toReady(r2);
  fail(new Error('open not confirmed within 2000 ms'));
  await new Promise((res) => setTimeout(res, 5));
  assert.is(r2.rt.snapshot.phase.kind, 'fault', 'an open that fails by itself faults the post');
  r2.rt.stop();
});

test.run();
