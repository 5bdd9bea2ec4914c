/**
 * One shift that breaks each rule of the receiver's exception report once (issue 10, "Done when"),
 * with the station uploading its records and its signed events to a real receiver, and then the
 * receiver's exception report checked to list exactly those breaches, each once, nothing else.
 *
 * The shift, over the simulator's real transports (in process, like the other e2e files):
 *   1. unchecked cylinder: filled, put on the check scale, taken away unsigned (filled_unchecked);
 *   2. checker = filler: the filler's second card badges at the check scale and is refused
 *      (CHECKER_IS_FILLER); another person then signs. The gateway refuses the breach, so the
 *      report must NOT list checker_is_filler;
 *   3. filled past inspection: the overdue cylinder is refused at the scan (INSPECTION_OVERDUE), so
 *      it cannot be filled and the report must NOT list past_inspection. Its refusal record is held
 *      back from upload past the receiver's late limit: one late upload;
 *   4. unauthorised fill: gas added past the closed valve at an idle post (bypass);
 *   5. unresolved overfill: a stuck-open valve without a position switch runs into the hard
 *      overfill cut-off; no decant is recorded;
 *   6. interrupted fill: the gateway stops mid-fill without closing the attempt (the in-process
 *      equivalent of SIGKILL that test/e2e/recovery-overfill.test.ts uses: Post.stop() leaves the
 *      journal), and the restart records the attempt as interrupted;
 *   7. clock jump: the PC's wall clock is set 10 minutes forward;
 *   8. rejected upload: a tampered copy of one of the station's records is posted to the receiver.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { startRig, type Rig } from './rig.ts';
import { startReceiver, type RunningReceiver } from '../../gateway/receiver/server.ts';
import { eventuallyAsync } from '../fixtures/wait.ts';
import { exceptionsReport } from '../../gateway/receiver/reports.ts';
import { publicKeyPemOf, loadPrivateKey } from '../../gateway/records/keys.ts';
import { uploadConfigSchema } from '../../gateway/records/config.ts';
import { Uploader } from '../../gateway/sync/uploader.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';

const LATE_MS = 8_000;
/** The PC clock: the system clock, with a wall offset the test sets (a clock jump). */
let wallOffsetMs = 0;
const clock = { now: () => performance.now(), wall: () => Date.now() + wallOffsetMs };

let rig: Rig;
let receiver: RunningReceiver;

test.before(async () => {
  rig = await startRig({
    clock,
    stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 30)),
    tweak: (cfg) => {
      cfg.eligibility.minRefillIntervalMs = 0;
      delete cfg.posts[1].valve.feedback; // P2: a valve without a position switch (the stuck-open overfill)
    },
  });
  // The receiver knows the station's key; the station then restarts with uploads on, so the
  // runtime builds its record uploader and its event uploader itself (station.ts).
  const pub = publicKeyPemOf(loadPrivateKey(rig.dataDir));
  receiver = await startReceiver({ port: 0, host: '127.0.0.1', dbPath: join(rig.dataDir, 'regulator.db'), stations: { [rig.config.station.code]: pub }, lateAfterMs: LATE_MS });
  rig.config.upload = uploadConfigSchema.parse({ url: `${receiver.url}/v1/records`, idleMs: 300 });
  await rig.restartGateway();
  assert.ok(rig.station.uploader && rig.station.eventUploader, 'both uploaders run');
});
test.after(async () => {
  await rig?.close();
  await receiver?.close();
});

const gross = (post: string) => rig.station.posts.get(post)!.snapshot.ctx.last?.grossKg ?? 0;
const simPost = (id: string) => rig.sim.state().posts.find((p) => p.id === id)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const displays = (code: string) => rig.events.filter((e) => e.kind === 'display' && e.reason === code).length;
const recordOf = (code: string, seen: number) => rig.until(`record of ${code}`, () => rig.records.slice(seen).find((r) => r.cylinderCode === code), 60_000);
const codes = (r: FillAttempt) => [...r.refusals.map((x) => x.code), ...r.trips.map((x) => x.code)];

async function clear(post: string): Promise<void> {
  rig.sim.remove(post);
  await rig.until(`${post} empty`, () => gross(post) < 1);
  if (rig.phase(post) === 'fault') {
    rig.sim.badge(post, 'B1009'); // supervisor reset
    await rig.until(`${post} reset`, () => rig.phase(post) === 'idle');
  }
  await rig.until(`${post} idle`, () => ['idle', 'aborted', 'closedOut'].includes(rig.phase(post)));
}

async function startFill(post: string, code: string, filler: string, adHoc?: { tareKg: number; residualKg: number }): Promise<void> {
  rig.sim.place(post, code, adHoc);
  await rig.until(`${post} loaded`, () => gross(post) > 1);
  rig.sim.scan(post, code);
  await rig.until(`${post} verified`, () => rig.phase(post) === 'verified');
  rig.sim.badge(post, filler);
  await rig.until(`${post} ready`, () => rig.phase(post) === 'cylinderReady');
  rig.sim.press(post, 'start', 300);
  await rig.until(`${post} filling`, () => rig.phase(post) === 'filling' && simPost(post).valve.open);
}

const seqOf = new Map<string, number>();

test('a shift that breaks each rule once', async () => {
  const station = rig.station.config.station.code;

  // 1. Unchecked cylinder: taken off the check scale unsigned.
  let seen = rig.records.length;
  await startFill('P1', 'E2000017A1B20001', 'B1001');
  await rig.until('P1 checked', () => rig.phase('P1') === 'checked', 60_000);
  rig.sim.toCheck('P1');
  await rig.until('re-weighed', () => (rig.station.posts.get('P1')!.snapshot.phase as { reweigh?: unknown }).reweigh !== undefined, 10_000);
  rig.sim.removeCheck();
  const unchecked = await recordOf('E2000017A1B20001', seen);
  assert.is(unchecked.outcome, 'filled_unchecked');
  rig.sim.remove('P1');
  await rig.until('P1 empty', () => gross('P1') < 1);

  // 2. Checker = filler: Zhang Wei's second card (same certificate) is refused; Li Na signs.
  rig.station.registry.upsertOperator({ badge: 'B1011', name: '张伟 Zhang Wei (card 2)', roles: ['filler', 'checker'], certificateNo: 'TS-P-41-2023-0001', certificateExpires: '2028-06-30' });
  seen = rig.records.length;
  await startFill('P1', 'E2000017A1B20002', 'B1001');
  await rig.until('P1 checked', () => rig.phase('P1') === 'checked', 60_000);
  rig.sim.toCheck('P1');
  await rig.until('re-weighed', () => (rig.station.posts.get('P1')!.snapshot.phase as { reweigh?: unknown }).reweigh !== undefined, 10_000);
  const before = displays('CHECKER_IS_FILLER');
  rig.sim.badgeCheck('B1011');
  await rig.until('CHECKER_IS_FILLER shown', () => displays('CHECKER_IS_FILLER') > before, 10_000);
  assert.is(rig.phase('P1'), 'checked', 'the second card did not sign');
  rig.sim.badgeCheck('B1002');
  await rig.until('P1 reweighed', () => rig.phase('P1') === 'reweighed', 10_000);
  rig.sim.removeCheck();
  const checked = await recordOf('E2000017A1B20002', seen);
  assert.ok(['filled', 'underfilled'].includes(checked.outcome), checked.outcome);
  assert.equal([checked.filler?.badge, checked.checker?.badge], ['B1001', 'B1002']);
  rig.sim.remove('P1');
  await rig.until('P1 empty', () => gross('P1') < 1);

  // 3. Past inspection cannot be filled: refused at the scan. Its record is uploaded late.
  await eventuallyAsync(async () => (await receiver.store.report(station)).accepted === rig.station.store.counts().total, 20_000, 'everything so far uploaded');
  await rig.station.uploader!.stop();
  seen = rig.records.length;
  rig.sim.place('P1', 'E2000017A1B20008');
  await rig.until('P1 loaded', () => gross('P1') > 1);
  rig.sim.scan('P1', 'E2000017A1B20008');
  const overdue = await recordOf('E2000017A1B20008', seen);
  assert.is(overdue.outcome, 'refused');
  assert.ok(codes(overdue).includes('INSPECTION_OVERDUE'), codes(overdue).join(', '));
  assert.is(simPost('P1').valve.coil, false);
  await clear('P1');
  await sleep(LATE_MS + 1500);
  rig.station.uploader = new Uploader({ store: rig.station.store, clock: rig.station.clock, config: rig.config.upload!, log: rig.station.logs('sync') });
  rig.station.uploader.start();

  // 4. Unauthorised fill: gas added past the closed valve at an idle post.
  seen = rig.records.length;
  rig.sim.place('P1', 'E2000017A1B20003'); // never scanned
  await rig.until('P1 loaded and steady', () => gross('P1') > 1 && rig.station.posts.get('P1')!.snapshot.ctx.quiet?.baseKg !== undefined, 10_000);
  rig.sim.bypass('P1', 20);
  const unauth = await rig.until('unauthorised fill record', () => rig.records.slice(seen).find((r) => r.post === 'P1'), 15_000);
  rig.sim.bypass('P1', 0);
  assert.is(unauth.outcome, 'unauthorised_fill');
  await clear('P1');

  // 5. Unresolved overfill: a stuck-open valve without a position switch, the hard cut-off trips.
  seen = rig.records.length;
  rig.sim.setFault({ device: 'P2.valve', kind: 'stuck-open' });
  await startFill('P2', 'E2000017A1B20004', 'B1002');
  const over = await recordOf('E2000017A1B20004', seen);
  assert.ok(over.mustDecant, `must decant: ${over.outcome} ${codes(over).join(', ')}`);
  rig.sim.clearFaults();
  await rig.until('P2 valve closed', () => !simPost('P2').valve.open, 5000);
  await clear('P2');
  assert.ok(rig.station.registry.pendingDecant('E2000017A1B20004'), 'held for a decant nobody records');

  // 6. Interrupted fill: the gateway goes down mid-fill, the restart records the attempt.
  await startFill('P1', 'E2000017A1B20005', 'B1001');
  await rig.until('some gas in', () => gross('P1') > 16.8 + 1.2 + 1, 20_000);
  await rig.restartGateway();
  // Written during the restart's start(), before the rig listens to the new station's events: read from the store.
  const stored = rig.station.store.db.prepare("SELECT body FROM records WHERE body LIKE '%E2000017A1B20005%' ORDER BY seq DESC LIMIT 1").get() as { body: string };
  const interrupted = JSON.parse(stored.body) as FillAttempt;
  assert.is(interrupted.outcome, 'interrupted');
  assert.ok(!interrupted.mustDecant, 'not over its allowed mass');
  await clear('P1');

  // 7. Clock jump: the PC clock is set 10 minutes forward; a refusal afterwards is recorded too.
  wallOffsetMs = 10 * 60_000;
  await rig.until('clock.jump event', () => rig.station.eventLog.db.prepare("SELECT 1 FROM events WHERE kind = 'clock.jump'").get(), 10_000);
  seen = rig.records.length;
  rig.sim.place('P2', 'E2000017A1B20010'); // scrapped
  await rig.until('P2 loaded', () => gross('P2') > 1);
  rig.sim.scan('P2', 'E2000017A1B20010');
  const scrapped = await recordOf('E2000017A1B20010', seen);
  assert.is(scrapped.outcome, 'refused');
  await clear('P2');

  // Everything the station holds reaches the receiver.
  const total = () => rig.station.store.counts().total;
  await eventuallyAsync(async () => (await receiver.store.report(station)).accepted === total(), 30_000, 'records uploaded');
  const events = () => (rig.station.eventLog.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  await eventuallyAsync(async () => (await receiver.events.report(station)).accepted === events(), 30_000, 'events uploaded');

  // 8. Rejected upload: one of the station's records, altered after signing, posted to the receiver.
  const row = rig.station.store.db.prepare('SELECT seq, body FROM records WHERE id = ?').get(checked.attemptId) as { seq: number; body: string };
  const forged = { ...JSON.parse(row.body), netFilledG: 4000 };
  const res = await fetch(`${receiver.url}/v1/records`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: JSON.stringify(forged) + '\n' });
  const reply = (await res.json()) as { results: { status: string; reason?: string }[] };
  assert.is(reply.results[0]?.status, 'rejected', JSON.stringify(reply));
  seqOf.set('rejected', row.seq);

  const src = receiver.reports;
  const rep = await exceptionsReport(src, { station });
  const listed = rep.exceptions.map((e) => `${e.kind}${e.cylinderCode ? ` ${e.cylinderCode}` : ''}`);
  console.log(`  exception report: ${JSON.stringify(listed)}`);
  assert.ok(rep.eventsAvailable);
  assert.equal(
    Object.fromEntries(Object.entries(rep.counts).filter(([, n]) => n > 0)),
    { unchecked: 1, late_upload: 1, unauthorised_fill: 1, unresolved_overfill: 1, interrupted: 1, clock_jump: 1, rejected_upload: 1 },
    JSON.stringify(rep.exceptions, null, 1),
  );
  const byKind = (k: string) => rep.exceptions.find((e) => e.kind === k)!;
  assert.is(byKind('unchecked').cylinderCode, 'E2000017A1B20001');
  assert.is(byKind('late_upload').cylinderCode, 'E2000017A1B20008');
  assert.is(byKind('unauthorised_fill').post, 'P1');
  assert.is(byKind('unresolved_overfill').cylinderCode, 'E2000017A1B20004');
  assert.is(byKind('interrupted').cylinderCode, 'E2000017A1B20005');
  assert.ok(Math.abs(Number(byKind('clock_jump').facts.jumpMs) - 600_000) < 5000, JSON.stringify(byKind('clock_jump')));
  assert.is(byKind('rejected_upload').seq, row.seq);
  // Refused by the gateway, so never in the report.
  assert.is(rep.counts.checker_is_filler, 0);
  assert.is(rep.counts.past_inspection, 0);
});

test.run();
