/**
 * Adaptive polling (issue 14 point 3): the Modbus scale driver at its idle
 * pace polls at idlePollHz, back at pollHz at once on setPace('fast'); and the
 * station's pacing rule (gateway/runtime/scale-pace.ts): idle only while the
 * post has no attempt and the platform is empty, fast at once on a code read,
 * a placed cylinder or any attempt phase.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeModbusUnit } from '../devices/fake-modbus-unit.ts';
import { encodeValue } from '../../protocols/modbus/registers.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { Signal } from '../../protocols/signal.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import type { CodeRead, ReaderDriver, ScaleDriver, WeightSample } from '../../devices/types.ts';
import { ModbusScaleDriver } from '../../devices/scale/modbus-scale.ts';
import type { ScaleRegisterMap } from '../../devices/scale/modbus-scale-map.ts';
import { paceScale } from '../../gateway/runtime/scale-pace.ts';

const map: ScaleRegisterMap = { function: 3, weight: { address: 10, type: 'int32' }, decimals: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function scale(pollHz: number, idlePollHz: number) {
  const unit = new FakeModbusUnit();
  unit.setHolding(10, encodeValue(0, { type: 'int32' }));
  const driver = new ModbusScaleDriver({ id: 's1', unit, map, pollHz, idlePollHz, clock: new ManualClock(0) });
  const reads = () => unit.callsOf('readHoldingRegisters').length;
  return { unit, driver, reads };
}

test('idle pace polls at idlePollHz; setPace(fast) polls at once and then at pollHz', async () => {
  const s = scale(50, 4);
  s.driver.setPace('idle');
  await s.driver.start();
  await sleep(30);
  const idleFrom = s.reads();
  await sleep(600);
  const idle = s.reads() - idleFrom; // 4 Hz: about 2-3 in 600 ms
  assert.ok(idle >= 1 && idle <= 4, `idle polls in 600 ms: ${idle}`);
  const before = s.reads();
  s.driver.setPace('fast');
  await sleep(5);
  assert.is(s.reads(), before + 1, 'a poll at once, not at the next idle due time');
  await sleep(300);
  const fast = s.reads() - before; // 50 Hz: about 15 in 300 ms (fewer on a busy machine)
  assert.ok(fast >= 6, `fast polls in 300 ms: ${fast}`);
  await s.driver.stop();
});

test('idlePollHz above pollHz is a config error', () => {
  try {
    scale(10, 20);
    assert.unreachable('must throw');
  } catch (err) {
    assert.ok(isFillgateError(err, 'BAD_CONFIG'));
  }
});

function station() {
  const samples = new Signal<WeightSample>();
  const reads = new Signal<CodeRead>();
  const events = new Signal<{ kind: string }>();
  const paces: string[] = [];
  const sc = { samples, setPace: (p: 'fast' | 'idle') => paces.push(p) } as unknown as ScaleDriver;
  const post = { snapshot: { phase: { kind: 'idle' } }, events };
  const clock = new ManualClock(100_000);
  paceScale(sc, { reads } as unknown as ReaderDriver, post, clock);
  const sample = (grossKg: number) => samples.emit({ device: 'P1.scale', at: clock.now(), grossKg, stable: true, overload: false } as WeightSample);
  const phase = (kind: string) => {
    post.snapshot.phase.kind = kind;
    events.emit({ kind: 'phase' });
  };
  return { paces, sample, phase, read: () => reads.emit({ code: 'X' } as unknown as CodeRead), clock };
}

test('pacing: idle only while idle and empty; a placement, a read or an attempt makes it fast at once', () => {
  const s = station();
  s.sample(0.02);
  assert.equal(s.paces.at(-1), 'idle');
  s.sample(8.4); // a cylinder placed
  assert.equal(s.paces.at(-1), 'fast');
  s.sample(0);
  assert.equal(s.paces.at(-1), 'idle');
  s.read(); // scanned before the weight shows
  assert.equal(s.paces.at(-1), 'fast');
  s.sample(0);
  assert.equal(s.paces.at(-1), 'fast', 'stays fast for a while after a read');
  s.clock.advance(6000);
  s.sample(0);
  assert.equal(s.paces.at(-1), 'idle');
  s.phase('filling');
  assert.equal(s.paces.at(-1), 'fast');
  s.sample(0.1); // an empty-looking reading while filling (a lift) keeps it fast
  assert.equal(s.paces.at(-1), 'fast');
  s.phase('closedOut');
  assert.equal(s.paces.at(-1), 'idle');
});

test.run();
