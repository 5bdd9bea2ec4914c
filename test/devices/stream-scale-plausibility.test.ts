/**
 * Issue 12 point 11: formats without a check character (Toledo without its checksum, ASCII)
 * and those whose check lets swapped digits through (XK3190-A9's XOR, Toledo's sum) get a
 * plausibility filter in the stream driver: a jump beyond what flow allows, a sign flip or a
 * reading beyond capacity is discarded and counted; a real placement is accepted once it is
 * seen consistently. On an unchecked format the motion and overload flags only clear when
 * several frames agree.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StreamScaleDriver, type StreamScaleOptions } from '../../devices/scale/stream-scale.ts';
import type { WeightSample } from '../../devices/types.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { memoryLinkPair } from '../../protocols/link/memory.ts';
import { encodeAscii } from '../../protocols/scale/ascii.ts';
import { encodeToledo } from '../../protocols/scale/toledo.ts';
import { encodeA9 } from '../../protocols/scale/xk3190-a9.ts';
import { flush } from '../fixtures/wait.ts';

async function rig(format: StreamScaleOptions['format'], extra: Partial<StreamScaleOptions> = {}) {
  const [device, gateway] = memoryLinkPair({ maxChunk: 64 });
  await device.open();
  const clock = new ManualClock(1000);
  const driver = new StreamScaleDriver({ id: 'P1.scale', link: gateway, format, clock, ...extra });
  const samples: WeightSample[] = [];
  const reasons: string[] = [];
  driver.samples.on((s) => samples.push(s));
  driver.discarded.on((d) => reasons.push(d.reason));
  await driver.start();
  /** One frame every 100 ms (10 frames/s, as the simulated and most real indicators send). */
  const send = async (b: Buffer) => {
    clock.advance(100);
    await device.write(b);
    await flush(b.length + 3);
  };
  return { driver, samples, reasons, send, clock };
}

const kg = (s: WeightSample[]) => s.map((x) => x.grossKg);

test('A9: swapped digits keep the XOR; the jump is discarded and counted, the real level goes on', async () => {
  const r = await rig('xk3190-a9');
  for (const w of [16.52, 16.52, 16.52, 16.52]) await r.send(encodeA9(w, 2));
  const before = r.samples.length;
  // "001652" sent as "006152": same digits, same XOR, so the frame's check passes.
  const swapped = encodeA9(61.52, 2);
  assert.is(swapped.subarray(9, 11).toString(), encodeA9(16.52, 2).subarray(9, 11).toString(), 'same check characters');
  await r.send(swapped);
  await r.send(encodeA9(16.54, 2));
  assert.equal(kg(r.samples.slice(before)), [16.54]);
  assert.ok(r.reasons.some((x) => /jump/.test(x)), r.reasons.join(' | '));
  assert.not.ok(kg(r.samples).includes(61.52));
  await r.driver.stop();
});

test('a real placement (0 → 35.2 kg) and lift are accepted once seen in 3 frames; a filling rise at 30 kg/min is never held', async () => {
  const r = await rig('xk3190-a9');
  for (const w of [0, 0, 0, 0]) await r.send(encodeA9(w, 2));
  const n = r.samples.length;
  for (const w of [35.2, 35.2, 35.2, 35.2]) await r.send(encodeA9(w, 2));
  assert.equal(kg(r.samples.slice(n)), [35.2, 35.2], 'held for two frames, then accepted');
  const m = r.samples.length;
  // 30 kg/min = 0.05 kg per 100 ms frame.
  const rise = Array.from({ length: 20 }, (_, i) => Math.round((35.2 + 0.05 * (i + 1)) * 100) / 100);
  for (const w of rise) await r.send(encodeA9(w, 2));
  assert.equal(kg(r.samples.slice(m)), rise);
  const k = r.samples.length;
  for (const w of [0, 0, 0]) await r.send(encodeA9(w, 2));
  assert.equal(kg(r.samples.slice(k)), [0], 'lifted: accepted on the third frame');
  await r.driver.stop();
});

test('Toledo without checksum: a flipped sign bit is discarded; a reading beyond capacity is never accepted', async () => {
  const r = await rig('toledo', { plausibility: { capacityKg: 150 } });
  const good = encodeToledo({ weightKg: 16.52, stable: true, overload: false });
  for (let i = 0; i < 4; i++) await r.send(good);
  const n = r.samples.length;
  const flipped = Buffer.from(good);
  flipped[2] ^= 0x02; // SWB b1: negative
  await r.send(flipped);
  await r.send(good);
  assert.equal(kg(r.samples.slice(n)), [16.52]);
  assert.ok(r.reasons.some((x) => /sign flip|jump|capacity/.test(x)), r.reasons.join(' | '));
  const m = r.samples.length;
  for (let i = 0; i < 6; i++) await r.send(encodeToledo({ weightKg: 930.4, stable: true, overload: false }));
  assert.equal(r.samples.length, m, 'beyond capacity: never a sample');
  assert.ok(r.reasons.some((x) => /capacity/.test(x)), r.reasons.join(' | '));
  await r.driver.stop();
});

test('Toledo without checksum: one frame with the motion or overload flag cleared does not make the weight stable or in range', async () => {
  const r = await rig('toledo');
  const moving = encodeToledo({ weightKg: 20, stable: false, overload: false });
  const still = encodeToledo({ weightKg: 20, stable: true, overload: false });
  for (const f of [moving, moving, moving, still, moving]) await r.send(f);
  assert.ok(r.samples.every((s) => !s.stable), 'a single flipped motion bit is not stability');
  for (const f of [still, still, still]) await r.send(f);
  assert.is(r.samples[r.samples.length - 1].stable, true, 'stable once three frames agree');
  const over = encodeToledo({ weightKg: 20, stable: true, overload: true });
  const n = r.samples.length;
  for (const f of [over, over, still, over, still]) await r.send(f);
  assert.ok(r.samples.slice(n).every((s) => s.overload), 'a single cleared overload bit is not in range');
  await r.driver.stop();
});

test('ASCII: a jump with a well-formed line is discarded and counted', async () => {
  const r = await rig('ascii');
  for (let i = 0; i < 4; i++) await r.send(encodeAscii({ weightKg: 12.34, stable: true, overload: false }));
  const n = r.samples.length;
  await r.send(encodeAscii({ weightKg: 42.34, stable: true, overload: false }));
  await r.send(encodeAscii({ weightKg: 12.36, stable: true, overload: false }));
  assert.equal(kg(r.samples.slice(n)), [12.36]);
  await r.driver.stop();
});

test.run();
