import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../protocols/clock.ts';
import { BadgeSessions, isSupervisor, type SessionChange } from '../../gateway/registry/sessions.ts';
import type { Operator } from '../../gateway/registry/types.ts';

const today = '2026-06-15';
const op = (badge: string, over: Partial<Operator> = {}): Operator => ({
  badge, name: badge, roles: ['filler'], certificateNo: `P-${badge}`, certificateExpires: '2027-12-31', updatedAt: '', ...over,
});
const settings = { badgeIdleTimeoutMs: 30 * 60_000, allowFillerAtSeveralPosts: false };

function setup() {
  const clock = new ManualClock();
  const s = new BadgeSessions(clock, settings);
  const log: SessionChange[] = [];
  s.changes.on((c) => log.push(c));
  return { clock, s, log };
}

test('badge in, then the same badge again badges out', () => {
  const { s, log } = setup();
  assert.is(s.present('P1', 'B1', op('B1'), today).kind, 'badged-in');
  assert.is(s.filler('P1')?.badge, 'B1');
  assert.is(s.present('P1', 'B1', op('B1'), today).kind, 'badged-out');
  assert.is(s.filler('P1'), undefined);
  assert.equal(log.map((c) => [c.kind, c.post, c.operator.badge, c.reason]), [['in', 'P1', 'B1', undefined], ['out', 'P1', 'B1', 'badge-out']]);
});

test('unknown badges, non-fillers and expired certificates are refused and change nothing', () => {
  const { s } = setup();
  s.present('P1', 'B1', op('B1'), today);
  const unknown = s.present('P1', 'B9', undefined, today);
  assert.equal(unknown.kind === 'refused' ? unknown.refusals.map((r) => r.code) : [], ['OPERATOR_UNKNOWN']);
  const checker = s.present('P1', 'B2', op('B2', { roles: ['checker'] }), today);
  assert.equal(checker.kind === 'refused' ? checker.refusals.map((r) => r.code) : [], ['OPERATOR_NOT_FILLER']);
  const expired = s.present('P1', 'B3', op('B3', { certificateExpires: '2026-06-14' }), today);
  assert.equal(expired.kind === 'refused' ? expired.refusals.map((r) => r.code) : [], ['CERTIFICATE_EXPIRED']);
  assert.is(s.filler('P1')?.badge, 'B1');
});

test('a supervisor badge is recognised by role and does not change who fills', () => {
  const { s } = setup();
  s.present('P1', 'B1', op('B1'), today);
  const sup = op('S1', { roles: ['supervisor'], certificateNo: null, certificateExpires: null });
  const r = s.present('P1', 'S1', sup, today);
  assert.is(r.kind, 'supervisor');
  assert.ok(isSupervisor(sup));
  assert.is(s.filler('P1')?.badge, 'B1');
  // A supervisor who is also a filler acts as a filler at the post.
  assert.is(s.present('P2', 'S2', op('S2', { roles: ['filler', 'supervisor'] }), today).kind, 'badged-in');
});

test('a new filler replaces the one at the post; a filler who badges in elsewhere moves', () => {
  const { s, log } = setup();
  s.present('P1', 'B1', op('B1'), today);
  const r = s.present('P1', 'B2', op('B2'), today);
  assert.ok(r.kind === 'badged-in' && r.replaced?.badge === 'B1');
  const m = s.present('P2', 'B2', op('B2'), today);
  assert.ok(m.kind === 'badged-in' && m.movedFrom === 'P1');
  assert.is(s.filler('P1'), undefined);
  assert.is(s.filler('P2')?.badge, 'B2');
  assert.equal(log.filter((c) => c.kind === 'out').map((c) => c.reason), ['replaced', 'moved']);
});

test('with allowFillerAtSeveralPosts one filler may hold two posts', () => {
  const s = new BadgeSessions(new ManualClock(), { ...settings, allowFillerAtSeveralPosts: true });
  s.present('P1', 'B1', op('B1'), today);
  s.present('P2', 'B1', op('B1'), today);
  assert.equal(s.active().map((x) => x.post).sort(), ['P1', 'P2']);
});

test('an idle session lapses after the timeout; activity keeps it alive', () => {
  const { clock, s, log } = setup();
  s.present('P1', 'B1', op('B1'), today);
  s.present('P2', 'B2', op('B2'), today);
  clock.advance(20 * 60_000);
  s.touch('P1');
  clock.advance(10 * 60_000); // P2 idle 30 min, P1 idle 10 min
  assert.is(s.filler('P2'), undefined);
  assert.is(s.filler('P1')?.badge, 'B1');
  assert.equal(log.filter((c) => c.kind === 'out').map((c) => [c.post, c.reason]), [['P2', 'timeout']]);
  clock.advance(20 * 60_000);
  assert.equal(s.expire().map((x) => x.post), ['P1']);
  assert.equal(s.active(), []);
});

test('clear ends every session', () => {
  const { s, log } = setup();
  s.present('P1', 'B1', op('B1'), today);
  s.present('P2', 'B2', op('B2'), today);
  s.clear();
  assert.equal(s.active(), []);
  assert.equal(log.filter((c) => c.kind === 'out').map((c) => c.reason), ['ended', 'ended']);
});

test.run();
