import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LeakInterlock, leakTransition, initialLeakState, type LeakInput, type LeakOutput } from '../../gateway/leak/interlock.ts';

const settings = { detectors: ['ld1', 'ld2'], cutoffs: ['cv1'], silentAfterMs: 10_000, cutoffAckTimeoutMs: 1_000, cutoffRetries: 2 };
const reading = (device: string, level: 0 | 1 | 2, at: number, fault = false): LeakInput => ({ type: 'reading', device, level, lel: level * 20, fault, at });
const kinds = (outs: LeakOutput[]) => outs.map((o) => (o.type === 'alarm' ? `alarm:${o.kind}:${o.active}` : o.type === 'lock' ? `lock:${o.on}` : o.type === 'closeCutoff' ? `close:${o.device}#${o.attempt}` : o.type));

/** Each row: input → the outputs it must produce, in order. */
test('table: level 1 locks; level 2 closes the cut-off and retries until acked; alarm when no ack comes', () => {
  const il = new LeakInterlock(settings, 0);
  const rows: [LeakInput, string[]][] = [
    [reading('ld1', 0, 100), []],
    [reading('ld2', 0, 100), []],
    [reading('ld1', 1, 200), ['alarm:leak:true', 'lock:true']],
    [reading('ld1', 1, 300), []],
    [reading('ld2', 2, 400), ['alarm:leak:true', 'close:cv1#1']],
    [{ type: 'tick', at: 1_000 }, []],
    [{ type: 'tick', at: 1_400 }, ['close:cv1#2']],
    [{ type: 'tick', at: 2_400 }, ['close:cv1#3']],
    [{ type: 'tick', at: 3_400 }, ['alarm:cutoff_no_ack:true', 'close:cv1#4']],
    [{ type: 'cutoff', device: 'cv1', state: 'moving', at: 3_500 }, []],
    [{ type: 'tick', at: 4_400 }, ['close:cv1#5']],
    [{ type: 'cutoff', device: 'cv1', state: 'closed', at: 4_500 }, ['alarm:cutoff_no_ack:false', 'alarm:cutoff_closed:true']],
    [{ type: 'tick', at: 6_000 }, []],
  ];
  for (const [input, expected] of rows) assert.equal(kinds(il.apply(input)), expected, JSON.stringify(input));
  assert.ok(il.locked);
});

test('table: reset refused while a detector is in alarm, faulted or silent; accepted and recorded once all clear', () => {
  const il = new LeakInterlock(settings, 0);
  il.apply(reading('ld1', 2, 100));
  il.apply({ type: 'cutoff', device: 'cv1', state: 'closed', at: 200 });
  let outs = il.apply({ type: 'reset', badge: 'SUP1', at: 300 });
  assert.equal(kinds(outs), ['resetRefused']);
  assert.match(JSON.stringify(outs), /leak level 2 at ld1/);
  // Alarm clears, but the lock is latched: still locked until a reset.
  assert.equal(kinds(il.apply(reading('ld1', 0, 400))), ['alarm:leak:false']);
  assert.ok(il.locked);
  il.apply(reading('ld2', 0, 500, true));
  outs = il.apply({ type: 'reset', badge: 'SUP1', at: 600 });
  assert.equal(kinds(outs), ['resetRefused']);
  assert.match(JSON.stringify(outs), /ld2 fault/);
  il.apply(reading('ld2', 0, 700));
  outs = il.apply({ type: 'reset', badge: 'SUP1', at: 800 });
  assert.equal(outs, [{ type: 'resetRecorded', badge: 'SUP1', at: 800 }, { type: 'lock', on: false, reasons: [] }]);
  assert.not.ok(il.locked);
  assert.equal(il.state.lastReset, { badge: 'SUP1', at: 800 });
});

test('table: a detector that goes silent (or never reports) is an alarm that locks; its return clears the alarm, not the lock', () => {
  const il = new LeakInterlock(settings, 0);
  il.apply(reading('ld1', 0, 5_000));
  // ld2 never reported: silent after 10 s from start; ld1 is still fresh.
  assert.equal(kinds(il.apply({ type: 'tick', at: 10_000 })), ['alarm:detector_silent:true', 'lock:true']);
  assert.equal(kinds(il.apply({ type: 'tick', at: 11_000 })), []);
  assert.equal(kinds(il.apply({ type: 'tick', at: 15_000 })), ['alarm:detector_silent:true']);
  assert.equal(kinds(il.apply(reading('ld2', 0, 15_100))), ['alarm:detector_silent:false']);
  assert.equal(kinds(il.apply({ type: 'reset', badge: 'S', at: 15_200 })), ['resetRefused']); // ld1 still silent
  il.apply(reading('ld1', 0, 15_300));
  assert.equal(kinds(il.apply({ type: 'reset', badge: 'S', at: 15_400 })), ['resetRecorded', 'lock:false']);
});

test('table: a detector fault locks like level 1 without closing the cut-off', () => {
  const il = new LeakInterlock(settings, 0);
  assert.equal(kinds(il.apply(reading('ld1', 0, 100, true))), ['alarm:detector_fault:true', 'lock:true']);
  assert.equal(kinds(il.apply({ type: 'tick', at: 2_000 })), []);
});

test('after a reset, the next level-2 alarm commands the valve again even if it never reported being reopened', () => {
  const il = new LeakInterlock(settings, 0);
  il.apply(reading('ld1', 2, 100));
  il.apply({ type: 'cutoff', device: 'cv1', state: 'closed', at: 200 });
  il.apply(reading('ld1', 0, 300));
  il.apply(reading('ld2', 0, 300));
  il.apply({ type: 'reset', badge: 'S', at: 400 });
  assert.equal(kinds(il.apply(reading('ld2', 2, 500))), ['alarm:leak:true', 'lock:true', 'close:cv1#1']);
});

test('the transition is pure: the input state is not modified', () => {
  const s0 = initialLeakState(settings, 0);
  const copy = JSON.parse(JSON.stringify(s0));
  const r = leakTransition(s0, reading('ld1', 2, 10), settings);
  assert.equal(s0, copy);
  assert.ok(r.state.latched);
});

test.run();
