/**
 * People, not badges, and no cylinder leaves unchecked (issue 10 points 1 and 2), over the
 * simulator's real transports: one filler at one post (BadgeSessions), the badge session's idle
 * timeout, the filler's second card refused as checker, a cylinder taken off the check scale
 * unsigned recorded as filled_unchecked and kept open until a supervisor closes it out.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, type Rig } from './rig.ts';
import { LiveHub } from '../../gateway/http/dashboard/live.ts';
import { silentLogs } from '../../gateway/log.ts';

const IDLE_MS = 3000;
let rig: Rig;
test.before(async () => {
  rig = await startRig({
    stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 24)),
    tweak: (cfg) => {
      cfg.eligibility.minRefillIntervalMs = 0;
      cfg.eligibility.badgeIdleTimeoutMs = IDLE_MS; // the schema's minimum is a minute; a test waits seconds
    },
  });
  // The filler Zhang Wei's replacement card: another badge, the same certificate (the same person).
  rig.station.registry.upsertOperator({ badge: 'B1011', name: '张伟 Zhang Wei (card 2)', roles: ['filler', 'checker'], certificateNo: 'TS-P-41-2023-0001', certificateExpires: '2028-06-30' });
});
test.after(async () => {
  await rig?.close();
});

const gross = (post: string) => rig.station.posts.get(post)!.snapshot.ctx.last?.grossKg ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const displays = (code: string, post: string) => rig.events.filter((e) => e.kind === 'display' && e.reason === code && e.post === post).length;

async function placeAndScan(post: string, code: string): Promise<void> {
  rig.sim.place(post, code);
  await rig.until(`${post} shows ${code}`, () => gross(post) > 1);
  rig.sim.scan(post, code);
  await rig.until(`${post} verified`, () => rig.phase(post) === 'verified');
}

async function empty(post: string): Promise<void> {
  rig.sim.remove(post);
  await rig.until(`${post} empty`, () => gross(post) < 1 && ['idle', 'aborted', 'closedOut'].includes(rig.phase(post)));
}

// Each case starts with both posts empty, whatever the case before left.
test.before.each(async () => {
  for (const post of ['P1', 'P2']) {
    if (rig.sim.state().posts.find((p) => p.id === post)!.cylinder) await empty(post).catch(() => undefined);
  }
});

test('one filler, one post: the same person is refused at a second post while the first has an attempt, free again once the badge session idles out', async () => {
  await placeAndScan('P1', 'E2000017A1B20004');
  rig.sim.badge('P1', 'B1001');
  await rig.until('P1 ready', () => rig.phase('P1') === 'cylinderReady');
  await placeAndScan('P2', 'E2000017A1B20005');
  const before = displays('FILLER_AT_OTHER_POST', 'P2');
  rig.sim.badge('P2', 'B1011'); // the same person's other card
  await rig.until('FILLER_AT_OTHER_POST shown at P2', () => displays('FILLER_AT_OTHER_POST', 'P2') > before);
  assert.is(rig.phase('P2'), 'verified', 'P2 waits for another filler');
  assert.is(rig.station.sessions.filler('P1')?.badge, 'B1001', 'badged in at P1');
  // Nobody touches P1: the badge session lapses and P1 asks for the badge again.
  await rig.until('P1 badge lapsed', () => rig.phase('P1') === 'verified' && displays('BADGE_TIMEOUT', 'P1') > 0, IDLE_MS + 3000);
  assert.is(rig.station.sessions.filler('P1'), undefined);
  await sleep(1600); // the P2 reader's dedup window for the same card
  rig.sim.badge('P2', 'B1011');
  await rig.until('P2 ready for the same person now', () => rig.phase('P2') === 'cylinderReady');
  assert.is(rig.station.sessions.filler('P2')?.badge, 'B1011');
  await empty('P1');
  await empty('P2');
});

test("the filler's second card cannot sign the post-fill check; taken off unsigned it is filled_unchecked, alarmed, and stays open until a supervisor closes it out", async () => {
  const code = 'E2000017A1B20001'; // YSP4.7
  const seen = rig.records.length;
  await placeAndScan('P1', code);
  rig.sim.badge('P1', 'B1001');
  await rig.until('P1 ready', () => rig.phase('P1') === 'cylinderReady');
  rig.sim.press('P1', 'start', 300);
  await rig.until('P1 checked', () => rig.phase('P1') === 'checked' || rig.phase('P1') === 'fault', 60_000);
  assert.is(rig.phase('P1'), 'checked');
  rig.sim.toCheck('P1');
  await rig.until('re-weighed on the check scale', () => (rig.station.posts.get('P1')!.snapshot.phase as { reweigh?: unknown }).reweigh !== undefined, 10_000);
  const before = displays('CHECKER_IS_FILLER', 'P1');
  rig.sim.badge('P1', 'B1011'); // the filler's second card
  await rig.until('CHECKER_IS_FILLER shown', () => displays('CHECKER_IS_FILLER', 'P1') > before);
  assert.is(rig.phase('P1'), 'checked', 'still waiting for a checker');
  rig.sim.removeCheck(); // taken away unsigned
  const rec = await rig.until('record', () => rig.records.slice(seen).find((r) => r.cylinderCode === code));
  assert.is(rec.outcome, 'filled_unchecked');
  assert.is(rec.postFillCheckMissing, true);
  assert.is(rec.checker, undefined);
  assert.equal([rec.filler?.badge, rec.filler?.certificate, rec.filler?.certificateExpires], ['B1001', 'TS-P-41-2023-0001', '2028-06-30']);
  const ev = rig.events.find((e) => e.kind === 'event' && e.code === 'LEFT_UNCHECKED' && e.attemptId === rec.attemptId);
  assert.ok(ev, 'LEFT_UNCHECKED event for the event log');
  const open = rig.station.exceptions.open('P1');
  assert.is(open.length, 1);
  assert.equal([open[0]!.code, open[0]!.cylinderCode], ['LEFT_UNCHECKED', code]);
  // The post's dashboard tile shows it until a supervisor closes it out.
  const hub = new LiveHub(rig.station, { hz: 1, log: silentLogs('dashboard') });
  const tile = () => hub.tiles().find((t) => t.post === 'P1')!;
  assert.equal(tile().exceptions?.map((x) => x.code), ['LEFT_UNCHECKED']);
  await sleep(500);
  assert.equal(tile().exceptions?.length, 1, 'still there later');
  assert.throws(() => rig.station.closeException(open[0]!.id, 'B1009', '  '), /note/);
  const closed = rig.station.closeException(open[0]!.id, 'B1009', 'cylinder fetched back and re-checked by Li Na');
  assert.is(closed.closedBy, 'B1009');
  assert.is(rig.station.exceptions.open('P1').length, 0);
  assert.is(tile().exceptions, undefined, 'gone from the tile once closed out');
  assert.ok(rig.events.some((e) => e.kind === 'event' && e.code === 'EXCEPTION_CLOSED' && e.attemptId === rec.attemptId), 'EXCEPTION_CLOSED event');
});

test.run();
