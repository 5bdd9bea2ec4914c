import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../protocols/clock.ts';
import { type AttemptOutcome, UnitHealth } from '../../protocols/modbus/health.ts';
import type { HealthState } from '../../protocols/modbus/types.ts';

const ok: AttemptOutcome = { kind: 'ok', rttMs: 3 };
const silent: AttemptOutcome = { kind: 'silent', error: 'timeout', badFrame: false };
const garbage: AttemptOutcome = { kind: 'silent', error: 'CRC error', badFrame: true };
const exception: AttemptOutcome = { kind: 'exception', error: 'exception 2' };

function make() {
  const clock = new ManualClock(1000);
  const h = new UnitHealth('scale-1', { setAsideAfter: 3, setAsideMs: 5000 }, clock);
  const states: HealthState[] = [];
  h.health.on((s) => states.push(s.state));
  return { clock, h, states };
}

test('starts offline (never reached); one good exchange makes it online', () => {
  const { h, states } = make();
  assert.is(h.snapshot().state, 'offline');
  h.record(ok);
  assert.is(h.snapshot().state, 'online');
  assert.is(h.snapshot().lastOkAt, 1000);
  assert.is(h.snapshot().rttMs, 3);
  assert.equal(states, ['online']);
});

test('silent failures: degraded, then set aside after setAsideAfter in a row', () => {
  const { clock, h, states } = make();
  h.record(ok);
  h.record(silent);
  h.record(garbage);
  assert.is(h.snapshot().state, 'degraded');
  assert.is(h.admit(), 'go');
  h.record(silent);
  const s = h.snapshot();
  assert.is(s.state, 'offline');
  assert.is(s.setAsideUntil, 6000);
  assert.is(s.framesDiscarded, 1);
  assert.is(s.failures, 3);
  assert.is(s.requests, 4);
  assert.equal(states, ['online', 'degraded', 'offline']);
  assert.is(h.admit(), 'set-aside');
  clock.advance(4999);
  assert.is(h.admit(), 'set-aside');
  clock.advance(1);
  assert.is(h.admit(), 'probe');
  // While the probe is out, everything else is still refused.
  assert.is(h.admit(), 'set-aside');
});

test('a failed probe sets the unit aside again at once; a good one brings it back', () => {
  const { clock, h } = make();
  for (let i = 0; i < 3; i++) h.record(silent);
  clock.advance(5000);
  assert.is(h.admit(), 'probe');
  h.record(silent);
  assert.is(h.snapshot().setAsideUntil, 11000);
  assert.is(h.admit(), 'set-aside');
  clock.advance(5000);
  assert.is(h.admit(), 'probe');
  h.record(ok);
  assert.is(h.snapshot().state, 'online');
  assert.is(h.snapshot().setAsideUntil, undefined);
  assert.is(h.admit(), 'go');
});

test('Modbus exceptions never set a unit aside and reset the silent count', () => {
  const { h } = make();
  for (let i = 0; i < 10; i++) h.record(exception);
  assert.is(h.snapshot().state, 'degraded');
  assert.is(h.admit(), 'go');
  h.record(silent);
  h.record(silent);
  h.record(exception);
  h.record(silent);
  h.record(silent);
  assert.is(h.admit(), 'go', 'the exception in between proved the device alive');
});

test('link down: offline with the reason; after the link returns it stays offline until an exchange succeeds', () => {
  const { h, states } = make();
  h.record(ok);
  h.setLinkDown(true, 'ECONNRESET');
  assert.is(h.snapshot().state, 'offline');
  assert.is(h.snapshot().lastError, 'link down: ECONNRESET');
  h.setLinkDown(false);
  assert.is(h.snapshot().state, 'offline');
  h.record(ok);
  assert.equal(states, ['online', 'offline', 'online']);
});

test('a link failure under a request is counted but does not count toward set-aside', () => {
  const { h } = make();
  for (let i = 0; i < 5; i++) h.record({ kind: 'link', error: 'dropped' });
  assert.is(h.admit(), 'go');
  assert.is(h.snapshot().failures, 5);
});

test.run();
