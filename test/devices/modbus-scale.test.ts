/** The scale driver's poll loop against the fake unit: timing, failures, health, config errors. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeModbusUnit, eventually } from './fake-modbus-unit.ts';
import { encodeValue } from '../../protocols/modbus/registers.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { ManualClock } from '../../protocols/clock.ts';
import type { DeviceHealth } from '../../protocols/modbus/types.ts';
import type { WeightSample } from '../../devices/types.ts';
import { ModbusScaleDriver } from '../../devices/scale/modbus-scale.ts';
import { planReads, type ScaleRegisterMap } from '../../devices/scale/modbus-scale-map.ts';
import { resolveScaleMap } from '../../devices/scale/presets/index.ts';
import { tcpRig } from './modbus-tcp-rig.ts';

const map: ScaleRegisterMap = {
  function: 3,
  weight: { address: 10, type: 'int32' },
  decimals: 2,
  status: { address: 12, type: 'uint16', stable: { bit: 0 }, overload: [{ bit: 1 }] },
};

function setup(pollHz = 20) {
  const unit = new FakeModbusUnit();
  unit.setHolding(10, encodeValue(2500, { type: 'int32' }));
  unit.setHolding(12, [1]);
  const clock = new ManualClock(1000);
  const driver = new ModbusScaleDriver({ id: 's1', unit, map, pollHz, clock });
  const samples: WeightSample[] = [];
  driver.samples.on((s) => samples.push(s));
  return { unit, clock, driver, samples };
}

test('planReads merges near ranges into one block and splits far ones', () => {
  assert.equal(planReads([{ address: 12, count: 1 }, { address: 10, count: 2 }]), [{ address: 10, count: 3 }]);
  assert.equal(planReads([{ address: 2, count: 1 }, { address: 16, count: 2 }]), [{ address: 2, count: 16 }]);
  assert.equal(planReads([{ address: 0, count: 2 }, { address: 100, count: 2 }]), [
    { address: 0, count: 2 },
    { address: 100, count: 2 },
  ]);
  assert.equal(planReads([{ address: 0, count: 2 }, { address: 30, count: 2 }], 16).length, 2);
});

test('the loop emits samples stamped with the injected clock when the response arrives', async () => {
  const { unit, clock, driver, samples } = setup();
  unit.delayMs = 2;
  await driver.start();
  await eventually(() => samples.length >= 1, 5000, 'first sample');
  clock.advance(500);
  const n = samples.length;
  await eventually(() => samples.length > n, 5000, 'next sample');
  await driver.stop();
  assert.equal(samples[0], { device: 's1', grossKg: 25, stable: true, overload: false, at: 1000 });
  assert.is(samples[samples.length - 1]!.at, 1500);
  assert.ok(unit.callsOf('readHoldingRegisters').every((c) => c.address === 10 && c.count === 3), 'one block per poll');
});

test('poll rate is roughly honoured and polls never overlap', async () => {
  const { unit, driver } = setup(20);
  let inFlight = 0;
  let maxInFlight = 0;
  const read = unit.readHoldingRegisters.bind(unit);
  unit.readHoldingRegisters = async (a, c) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      return await read(a, c);
    } finally {
      inFlight--;
    }
  };
  const t0 = performance.now();
  await driver.start();
  await new Promise((r) => setTimeout(r, 1000));
  await driver.stop();
  const elapsed = performance.now() - t0;
  const polls = driver.getStats().polls;
  const expected = (elapsed / 1000) * 20;
  // Generous: a loaded 2-core machine may delay timers, but must not double the rate.
  assert.ok(polls >= expected * 0.4 && polls <= expected * 1.3 + 1, `polls ${polls}, expected ~${expected.toFixed(1)}`);
  assert.is(maxInFlight, 1);
});

test('a slow unit (slower than the period) gets back-to-back polls, no overlap and no burst afterwards', async () => {
  const { unit, driver } = setup(50);
  unit.delayMs = 60; // three periods per poll
  await driver.start();
  await new Promise((r) => setTimeout(r, 400));
  const starts = unit.callsOf('readHoldingRegisters').map((c) => c.t);
  unit.delayMs = 0;
  const before = driver.getStats().polls;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 200));
  const after = driver.getStats().polls;
  const elapsed = performance.now() - t0;
  await driver.stop();
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= 55, 'no overlapping polls');
  // At 50 Hz, 200 ms is ~10 polls; a catch-up burst for the slow phase would be far more.
  assert.ok(after - before <= (elapsed / 20) * 1.3 + 2, `no catch-up burst: ${after - before} polls in ${elapsed.toFixed(0)} ms`);
});

test('a failing unit that recovers: the loop keeps running, health goes degraded, offline, then online', async () => {
  const { unit, driver, samples } = setup(50);
  const states: DeviceHealth['state'][] = [];
  driver.health.on((h) => {
    assert.is(h.device, 's1');
    states.push(h.state);
  });
  await driver.start();
  await eventually(() => samples.length >= 1);
  unit.failAll = true;
  await eventually(() => driver.getHealth().state === 'offline', 5000, 'offline');
  const failuresSeen = driver.getStats().readFailures;
  await eventually(() => driver.getStats().readFailures >= failuresSeen + 3, 5000, 'loop still polling');
  const n = samples.length;
  unit.failAll = false;
  await eventually(() => samples.length > n, 5000, 'samples resume');
  await driver.stop();
  assert.ok(states.indexOf('degraded') >= 0 && states.indexOf('offline') > states.indexOf('degraded'), states.join(','));
  assert.is(states[states.length - 1], 'online');
  assert.is(driver.getHealth().state, 'online');
});

test('exceptions of any kind never end the loop (sync throw, odd rejection, throwing listener)', async () => {
  const { unit, driver, samples } = setup(50);
  let calls = 0;
  const read = unit.readHoldingRegisters.bind(unit);
  unit.readHoldingRegisters = (a, c) => {
    calls++;
    if (calls === 2) throw new TypeError('sync throw');
    if (calls === 3) return Promise.reject('not an Error');
    if (calls === 4) return Promise.resolve([1]); // too few registers
    return read(a, c);
  };
  driver.samples.on(() => {
    throw new Error('bad consumer');
  });
  await driver.start();
  await eventually(() => samples.length >= 3, 5000, 'samples after the bad calls');
  await driver.stop();
  const st = driver.getStats();
  assert.is(st.readFailures, 2);
  assert.is(st.rejected, 1);
  assert.ok(driver.samples.listenerErrors >= 3);
});

test('refused data is counted and makes health degraded until good data returns', async () => {
  const { unit, driver } = setup();
  const ok = await driver.pollOnce();
  assert.ok(ok);
  const strict = new ModbusScaleDriver({
    id: 's2',
    unit,
    map: { ...map, status: { ...map.status!, require: [{ bit: 15 }] } },
  });
  assert.is(await strict.pollOnce(), undefined);
  const h = strict.getHealth();
  assert.is(h.state, 'degraded');
  assert.is(h.framesDiscarded, 1);
  assert.match(h.lastError ?? '', /bit 15/);
  unit.setHolding(12, [0x8001]);
  assert.ok(await strict.pollOnce());
  assert.is(strict.getHealth().state, 'online');
});

test('overload from status bit and sample fields', async () => {
  const { unit, driver } = setup();
  unit.setHolding(12, [0b10]);
  const s = await driver.pollOnce();
  assert.equal([s?.stable, s?.overload], [false, true]);
});

test('stop() ends polling', async () => {
  const { unit, driver, samples } = setup(50);
  await driver.start();
  await eventually(() => samples.length >= 2);
  await driver.stop();
  const n = unit.calls.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.is(unit.calls.length, n);
});

test('bad configuration is refused with BAD_CONFIG', () => {
  const unit = new FakeModbusUnit();
  const bad = (fn: () => unknown) => assert.throws(fn, (e: unknown) => isFillgateError(e, 'BAD_CONFIG'));
  bad(() => new ModbusScaleDriver({ id: 'x', unit, map, pollHz: 0 }));
  bad(() => new ModbusScaleDriver({ id: 'x', unit, map, pollHz: 51 }));
  bad(() => new ModbusScaleDriver({ id: 'x', unit, map: { ...map, function: 1 as 3 } }));
  bad(() => new ModbusScaleDriver({ id: 'x', unit, map: { ...map, weight: { address: -1, type: 'int32' } } }));
  bad(() => new ModbusScaleDriver({ id: 'x', unit, map: { ...map, status: { ...map.status!, stable: { bit: 16 } } } }));
  const d = new ModbusScaleDriver({ id: 'x', unit, map });
  assert.is(d.periodMs, 100, 'default 10 Hz');
  return d.tare().then(
    () => assert.unreachable('no tare in this map'),
    (e: unknown) => assert.ok(isFillgateError(e, 'BAD_CONFIG')),
  );
});

test('over a real Modbus TCP connection: the FT-112 preset polls, decodes and tares', async () => {
  const rig = await tcpRig();
  const holding = rig.units.holding.get(1)!;
  const put = (addr: number, words: number[]) => words.forEach((w, i) => (holding[addr + i] = w));
  put(4, encodeValue(-1250, { type: 'int32' })); // -1.250 kg
  put(6, encodeValue(2 ** 28, { type: 'uint32' })); // X.XXX, stable
  put(8, [0, 0]);
  const driver = new ModbusScaleDriver({ id: 'tcp.scale', unit: rig.unit, map: resolveScaleMap('flintec-ft112'), pollHz: 20 });
  const samples: WeightSample[] = [];
  driver.samples.on((s) => samples.push(s));
  await driver.start();
  await eventually(() => samples.length >= 2, 8000, 'samples over TCP');
  await driver.tare();
  await driver.stop();
  await rig.close();
  assert.equal([samples[0]!.grossKg, samples[0]!.stable, samples[0]!.overload], [-1.25, true, false]);
  assert.is(holding[24], 2, 'tare wrote 2 to 40025');
  assert.is(driver.getHealth().device, 'tcp.scale');
});

test.run();
