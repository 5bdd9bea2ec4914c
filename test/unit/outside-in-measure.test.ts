/** The outside-in bench's reading of the wire (test/bench/outside-in-measure.ts): folds, closes, re-opens, latency. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WireCollector, fillValve, metricByLabel, percentile } from '../bench/outside-in-measure.ts';

function collector(writes: [number, boolean][], replies: number[]): WireCollector {
  const w = new WireCollector('http://unused', 200);
  // Simulator clock = epoch − 1000 here, so `at` and `t` differ as they do across processes.
  w.coils.set(3, writes.map(([t, on]) => ({ t, at: t + 1000, on })));
  w.replies.set(4, replies);
  w.origin = 1000;
  return w;
}

test('keep-alive repeats fold; a top-up within 1 s is a re-open; latency from the last reply before the first OFF', () => {
  const w = collector(
    [[0, false], [100, true], [600, true], [1100, true], [2000, false], [2050, false], [2600, true], [2750, false], [9000, true], [9100, false]],
    [50, 1900, 1960, 2010],
  );
  const v = fillValve(w, 3, 4, 1000, 4000); // epoch window: simulator 0..3000
  assert.equal(v, { opens: 2, closes: 2, closeLatencyMs: 40, reopensWithin1s: 1, firstCloseAt: 3000 });
  assert.is(w.repliesBetween(2900, 3000), 2, 'replies at simulator 1900 and 1960');
});

test('a fill with no OFF in its window has no close and no latency', () => {
  const w = collector([[100, true]], [50]);
  assert.equal(fillValve(w, 3, 4, 1000, 5000), { opens: 1, closes: 0, closeLatencyMs: undefined, reopensWithin1s: 0, firstCloseAt: undefined });
});

test('OFF after the fault showed: the first OFF after it while the coil was ON, the last close before it otherwise', () => {
  const w = collector([[0, false], [100, true], [600, true], [1100, false], [1500, false], [2000, true], [2600, true], [2900, false]], []);
  // Simulator 2500 = epoch 3500: ON since 2000 (a keep-alive ON at 2600 folds); the OFF came at 2900.
  assert.is(fillValve(w, 3, 4, 1000, 5000, 3500).offAfterFaultMs, 400);
  // Simulator 1300: the coil was OFF since 1100 (the repeat at 1500 is a keep-alive): 200 ms before.
  assert.is(fillValve(w, 3, 4, 1000, 5000, 2300).offAfterFaultMs, -200);
  // Before any ON: no figure. ON with no OFF after: never (Infinity).
  assert.is(fillValve(w, 3, 4, 1000, 5000, 1050).offAfterFaultMs, undefined);
  assert.is(fillValve(w, 3, 4, 1000, 3800, 3500).offAfterFaultMs, Infinity);
});

test('percentile and metric parsing', () => {
  assert.is(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99), 10);
  assert.is(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50), 5);
  assert.ok(Number.isNaN(percentile([], 50)));
  const text = 'fillgate_trips_total{post="P1",reason="STALE_WEIGHT"} 3\nfillgate_trips_total{post="P2",reason="STALE_WEIGHT"} 2\nfillgate_trips_total{post="P2",reason="NO_FLOW"} 1\n';
  assert.equal(metricByLabel(text, 'fillgate_trips_total', 'reason'), { STALE_WEIGHT: 5, NO_FLOW: 1 });
});

test.run();
