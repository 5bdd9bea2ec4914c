/**
 * The check scale's reading belongs to the cylinder whose code is read at the check scale (issue 10
 * point 3), not to the post that has waited longest: two posts wait, the later one's cylinder is
 * put on the check scale, its antenna reads the tag, and the checker badges at the check scale.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, type Rig } from './rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({
    stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 24)),
    tweak: (cfg) => {
      cfg.eligibility.minRefillIntervalMs = 0;
    },
  });
});
test.after(async () => {
  await rig?.close();
});

const gross = (post: string) => rig.station.posts.get(post)!.snapshot.ctx.last?.grossKg ?? 0;
const reweigh = (post: string) => (rig.station.posts.get(post)!.snapshot.phase as { reweigh?: { grossKg: number } }).reweigh;

async function fill(post: string, code: string, filler: string): Promise<void> {
  rig.sim.place(post, code);
  await rig.until(`${post} loaded`, () => gross(post) > 1);
  rig.sim.scan(post, code);
  await rig.until(`${post} verified`, () => rig.phase(post) === 'verified');
  rig.sim.badge(post, filler);
  await rig.until(`${post} ready`, () => rig.phase(post) === 'cylinderReady');
  rig.sim.press(post, 'start', 300);
  await rig.until(`${post} filling`, () => rig.phase(post) === 'filling');
}

test('the re-weigh goes to the cylinder read at the check scale, and a badge there signs that cylinder', async () => {
  const small = 'E2000017A1B20001'; // YSP4.7 at P2: done first, waits longest
  const big = 'E2000017A1B20002'; // YSP12 at P1
  await fill('P2', small, 'B1002');
  await fill('P1', big, 'B1001');
  await rig.until('both checked', () => rig.phase('P1') === 'checked' && rig.phase('P2') === 'checked', 60_000);
  rig.sim.toCheck('P1'); // the later one first; the antenna reads its tag
  await rig.until('P1 re-weighed on the check scale', () => reweigh('P1') !== undefined, 10_000);
  assert.is(reweigh('P2'), undefined, 'the post that waited longest did not get the other cylinder');
  const onCheck = rig.sim.state().check!.cylinder!;
  assert.ok(Math.abs(reweigh('P1')!.grossKg - onCheck.grossKg) < 0.05, `${reweigh('P1')!.grossKg} vs ${onCheck.grossKg}`);
  rig.sim.badgeCheck('B1002'); // the checker signs at the check scale
  await rig.until('P1 reweighed', () => rig.phase('P1') === 'reweighed');
  rig.sim.removeCheck();
  const recP1 = await rig.until('P1 record', () => rig.records.find((r) => r.cylinderCode === big));
  assert.equal([recP1.checker?.badge, recP1.reweighScale, recP1.postFillCheckMissing], ['B1002', 'check.scale', undefined]);
  assert.ok(recP1.outcome === 'filled' || recP1.outcome === 'underfilled', recP1.outcome);
  rig.sim.toCheck('P2');
  await rig.until('P2 re-weighed', () => reweigh('P2') !== undefined, 10_000);
  rig.sim.badgeCheck('B1001');
  await rig.until('P2 reweighed', () => rig.phase('P2') === 'reweighed');
  rig.sim.removeCheck();
  const recP2 = await rig.until('P2 record', () => rig.records.find((r) => r.cylinderCode === small));
  assert.is(recP2.checker?.badge, 'B1001');
  assert.ok(Math.abs((recP2.reweighedGrossKg ?? 0) - (3.4 + 1.9)) < 0.3, `P2 re-weighed ${recP2.reweighedGrossKg}`);
});

test.run();
