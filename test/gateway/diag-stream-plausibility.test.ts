/**
 * The doctor listens to a stream scale through the same plausibility filter as the gateway
 * (issue 12 points 11, 12): swapped digits pass A9's XOR, so only the filter sees them, and
 * a scale whose frames are largely implausible is not "ok".
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { probeStreamScale } from '../../gateway/diag/probe-stream.ts';
import { memoryLinkPair } from '../../protocols/link/memory.ts';
import { encodeA9 } from '../../protocols/scale/xk3190-a9.ts';

async function probeWith(weights: number[]) {
  const [device, gateway] = memoryLinkPair();
  await device.open();
  const probing = probeStreamScale('P2.scale', 'tcp://sim:1', 'xk3190-a9', undefined, { link: gateway, listenMs: 40 * weights.length + 200 });
  for (const w of weights) {
    await new Promise((r) => setTimeout(r, 40));
    await device.write(encodeA9(w, 2));
  }
  return probing;
}

test('a steady scale is ok: the first frames confirming its level are not counted as discards', async () => {
  const d = await probeWith([16.52, 16.52, 16.52, 16.52, 16.52, 16.52]);
  assert.is(d.status, 'ok', JSON.stringify(d));
  assert.is(d.framesDiscarded, 0);
});

test('every other frame with swapped digits (same XOR): discarded by the filter, and the scale is not ok', async () => {
  const d = await probeWith([16.52, 16.52, 16.52, 61.52, 16.52, 61.52, 16.52, 61.52, 16.52]);
  assert.is(d.status, 'problem', JSON.stringify(d));
  assert.is(d.framesDiscarded, 3);
  assert.match(d.hints.join('\n'), /jump from 16\.52 to 61\.52 kg/);
});

test.run();
