/**
 * Persistent latches (issue 9 point 4): the store in station.db, the leak interlock's restore,
 * and the controller starting in fault. The end-to-end restart is test/e2e/latches.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from '../../gateway/sqlite.ts';
import { LatchStore } from '../../gateway/runtime/latches.ts';
import { LeakInterlock, type LeakOutput } from '../../gateway/leak/interlock.ts';
import { initialState, transition } from '../../gateway/controller/index.ts';
import { cylinderCode, makeConfig } from './controller-support.ts';
import type { Clock } from '../../protocols/clock.ts';

let wall = Date.UTC(2026, 11, 1, 3, 0, 0);
const clock: Clock = { now: () => wall - Date.UTC(2026, 0, 1), wall: () => wall };

test('latch store: set, raise, lift with who and why; kept across reopening station.db', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-latch-'));
  try {
    let db = new Database(join(dir, 'station.db'));
    let s = new LatchStore(db, clock);
    s.set('leak', 'LEAK_ALARM', 'ld-P1: level 1', { level: 1 }, 'leak interlock');
    wall += 1000;
    s.set('leak', 'LEAK_ALARM', 'ld-P1: level 2', { level: 2 }, 'leak interlock');
    s.set('leak', 'LEAK_ALARM', 'same level again', { level: 2 }, 'leak interlock'); // no change: no history line
    s.set('post:P1', 'STALE_WEIGHT', undefined, { attemptId: 'A1' }, 'controller');
    db.close();

    db = new Database(join(dir, 'station.db'));
    s = new LatchStore(db, clock);
    const leak = s.get('leak')!;
    assert.equal(leak.data, { level: 2 }, 'the raised level is kept');
    assert.is(leak.since, '2026-12-01T03:00:00.000Z', 'the time it was first set is kept');
    assert.equal(s.active().map((l) => l.latch), ['leak', 'post:P1']);
    assert.not.ok(s.lift('store', 'B1009'), 'nothing to lift');
    wall += 1000;
    assert.ok(s.lift('leak', 'B1009'));
    assert.not.ok(s.has('leak'));
    s.note('store', 'refused', 'web:zhao', 'RESET_REFUSED', 'disk full');
    const h = s.history();
    assert.equal(
      h.map((e) => [e.latch, e.action, e.by]),
      [
        ['store', 'refused', 'web:zhao'],
        ['leak', 'lift', 'B1009'],
        ['post:P1', 'set', 'controller'],
        ['leak', 'raise', 'leak interlock'],
        ['leak', 'set', 'leak interlock'],
      ],
    );
    assert.is(h[1].at, '2026-12-01T03:00:02.000Z');
    assert.is(h[1].reason, 'LEAK_ALARM');
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const settings = { detectors: ['ld1', 'ld2'], cutoffs: ['cv1'], silentAfterMs: 10_000, cutoffAckTimeoutMs: 1_000, cutoffRetries: 2 };
const kinds = (outs: LeakOutput[]) => outs.map((o) => (o.type === 'lock' ? `lock:${o.on}` : o.type === 'closeCutoff' ? `close:${o.device}#${o.attempt}` : o.type));

test('leak interlock: a restored level-2 lock is latched at once and commands the cut-off closed again', () => {
  const il = new LeakInterlock(settings, 0);
  assert.equal(kinds(il.apply({ type: 'restore', level: 2, at: 10 })), ['lock:true', 'close:cv1#1']);
  assert.ok(il.locked);
  assert.is(il.state.latchedLevel, 2);
});

test('leak interlock: a reset is refused until every detector has reported clear since start', () => {
  const il = new LeakInterlock(settings, 0);
  il.apply({ type: 'restore', level: 1, at: 10 });
  il.apply({ type: 'reading', device: 'ld1', level: 0, fault: false, at: 100 });
  const outs = il.apply({ type: 'reset', badge: 'S', at: 200 });
  assert.equal(kinds(outs), ['resetRefused']);
  assert.match(JSON.stringify(outs), /ld2 has not reported since start/);
  assert.ok(il.locked);
  il.apply({ type: 'reading', device: 'ld2', level: 0, fault: false, at: 300 });
  assert.equal(kinds(il.apply({ type: 'reset', badge: 'S', at: 400 })), ['resetRecorded', 'lock:false']);
});

test('controller: starts in the persisted fault, refuses fills there, and only a reset leaves it', () => {
  const cfg = makeConfig();
  let s = initialState(cfg, { fault: { reason: 'STALE_WEIGHT', attemptId: 'A1' } });
  assert.equal(s.phase, { kind: 'fault', reason: 'STALE_WEIGHT', attemptId: 'A1' });
  const refused = transition(s, cylinderCode('C1', 0, 'A2'), 10);
  assert.is(refused.state.phase.kind, 'fault');
  const rec = refused.commands.find((c) => c.kind === 'record');
  assert.ok(rec && rec.kind === 'record' && rec.attempt.refusals.some((r) => r.code === 'POST_IN_FAULT'));
  s = transition(refused.state, { kind: 'reset', by: 'B1009' }, 20).state;
  assert.is(s.phase.kind, 'idle');
});

test.run();
