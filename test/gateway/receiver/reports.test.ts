/**
 * The inspector's report queries (issue 10 point 10) with records built to break each rule
 * once, on both receiver stores (issue 11 point 6): SQLite and a real PostgreSQL started for
 * this file (test/fixtures/postgres.ts). The same tests, the same expected lists.
 */
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import Database from '../../../gateway/sqlite.ts';
import { openReceiverStore, type ReceiverStore } from '../../../gateway/receiver/store.ts';
import type { ReportSource } from '../../../gateway/receiver/reports.ts';
import { alarmsReport, cylinderReport, exceptionsReport, personsReport, scanRecords, summaryReport } from '../../../gateway/receiver/reports.ts';
import { INITDB, startPostgres, type TestPostgres } from '../../fixtures/postgres.ts';
import { missing, skipIf } from '../../fixtures/needs.ts';
import { makeKeys, tempDir } from '../records/fixtures.ts';
import { insertEvents, MIN, signedChain, T0, type Spec } from './report-fixtures.ts';

const keys = makeKeys();
const other = makeKeys();

type Register = (name: string, fn: () => Promise<void>) => void;

function reportTests(test: Register, freshDb: () => Promise<string>): void {
  async function open(now?: () => number): Promise<{ store: ReceiverStore; src: ReportSource }> {
    const store = await openReceiverStore({ dbPath: await freshDb(), stations: { ST01: keys.publicKeyPem, ST02: other.publicKeyPem }, verifyThreads: 0, now: now ?? (() => T0 + 600 * MIN) });
    return { store, src: store.reportSource() };
  }

  const noChecker = { checker: undefined, postFillCheck: undefined, reweighedGrossG: undefined, reweighedNetG: undefined };

  /** One breach per record (seq = index + 1), clean records between them. */
  const breaches: Spec[] = [
    { min: 0 }, // 1 clean
    { min: 10, set: { ...noChecker } }, // 2 unchecked (a station before issue 10: outcome still "filled")
    { min: 20, set: { outcome: 'filled_unchecked', postFillCheckMissing: true, ...noChecker } }, // 3 unchecked (own outcome)
    { min: 30, set: { checker: { badge: 'B009', name: '张三', certificate: 'P-2024-0001' } } }, // 4 checker = filler (second card, same certificate)
    { min: 40, set: { nextInspectionDue: '2026-02-28' } }, // 5 filled past inspection
    { min: 50, set: { outcome: 'overfilled', mustDecant: true, toleranceState: 'over', netFilledG: 15_400, cylinderCode: 'OVER-1' } }, // 6 overfill, never decanted
    { min: 60, set: { outcome: 'overfilled', mustDecant: true, toleranceState: 'over', netFilledG: 15_300, cylinderCode: 'OVER-2' } }, // 7 overfill, decanted at min 70
    { min: 80, set: { outcome: 'interrupted', trips: [{ code: 'PROCESS_INTERRUPTED', at: '2026-03-01T09:20:00.000+08:00' }], netFilledG: 4000, ...noChecker } }, // 8 interrupted
    { min: 90, set: { clockJumpMs: -3_600_000 } }, // 9 clock jump
    { min: 100, set: { outcome: 'unauthorised_fill', trips: [{ code: 'UNAUTHORISED_FILL', at: '2026-03-01T09:40:00.000+08:00' }], cylinderCode: undefined, filler: undefined, ...noChecker } }, // 10 unauthorised fill
    { min: 110, set: { filler: { badge: 'B001', name: '张三', certificate: 'P-2024-0001', certificateExpires: '2026-02-01' } } }, // 11 expired certificate
    { min: 120, set: { outcome: 'refused', refusals: [{ code: 'SCRAPPED' }], netFilledG: undefined, startedAt: undefined, ...noChecker } }, // 12 refused: not a breach
    { min: 130, set: { outcome: 'refused', refusals: [{ code: 'CHECKER_IS_FILLER' }], netFilledG: undefined, startedAt: undefined, ...noChecker } }, // 13 refused: the rule worked
  ];

  test('summary: counts by outcome, refusal reason, trip and post; the period bounds the records', async () => {
    const { store, src } = await open();
    const recs = signedChain(keys.privateKey, 'ST01', breaches);
    assert.ok((await store.ingest(recs)).every((r) => r.status === 'accepted'));
    const s = await summaryReport(src, { station: 'ST01' });
    assert.is(s.records, 13);
    assert.equal(s.byOutcome, { filled: 6, overfilled: 2, refused: 2, filled_unchecked: 1, interrupted: 1, unauthorised_fill: 1 });
    assert.equal(s.byRefusal, { CHECKER_IS_FILLER: 1, SCRAPPED: 1 });
    assert.equal(s.byTrip, { PROCESS_INTERRUPTED: 1, UNAUTHORISED_FILL: 1 });
    assert.is(s.fills, 10, 'closed-out fills and the started interrupted one; refusals and the unauthorised fill are not fills');
    const part = await summaryReport(src, { station: 'ST01', fromMs: T0 + 10 * MIN, toMs: T0 + 30 * MIN });
    assert.is(part.records, 2, 'from inclusive, to exclusive');
    assert.equal([part.firstSeq, part.lastSeq], [2, 3]);
    await store.close();
  });

  test('exceptions: exactly one per breach, each with its record; decanted overfills and refusals are not listed', async () => {
    let now = T0 + 600 * MIN;
    const { store, src } = await open(() => now);
    const recs = signedChain(keys.privateKey, 'ST01', [...breaches, { min: 140 }, { min: 150 }]);
    await store.ingest(recs.slice(0, 14)); // received within the hour? no: now is 10 h after T0, so all are late
    const lateBefore = (await exceptionsReport(src, { station: 'ST01' })).counts.late_upload;
    assert.is(lateBefore, 14, 'uploaded hours after the fill: every record late');
    await store.close();

    // Fresh store, uploads on time except record 15.
    const s2 = await open(() => now);
    for (const r of recs) {
      now = Date.parse(r.recordedAt) + (r.seq === 15 ? 2 * 3_600_000 : 5_000);
      await s2.store.ingest([r]);
    }
    now = T0 + 200 * MIN;
    const forged = { ...recs[1], seq: 16, id: 'forged', netFilledG: 1 };
    assert.equal((await s2.store.ingest([forged]))[0].reason, 'BAD_SIGNATURE');
    await insertEvents(s2.store, keys.privateKey, 'ST01', [
      { min: 55, kind: 'alarm.raised', subject: 'ld-P1', reason: 'LEAK', data: { alarmKind: 'leak' } },
      { min: 70, kind: 'registry.cylinder.decanted', subject: 'OVER-2', by: 'B007', data: { removedKg: '0.4' } },
      { min: 75, kind: 'clock.jump', data: { jumpMs: 7_200_000 } },
      { min: 105, kind: 'fill.unauthorised', post: 'P2', subject: 'P2', reason: 'UNAUTHORISED_FILL', detail: 'rose 14.8 kg with the valve closed' },
      { min: 106, kind: 'latch.lift', subject: 'leak', by: 'B007', reason: 'SUPERVISOR_RESET' },
    ]);
    const r = await exceptionsReport(s2.src, { station: 'ST01' });
    const got = r.exceptions.map((e) => `${e.kind}@${e.source}:${e.seq ?? '-'}`);
    assert.equal(got.sort(), [
      'certificate_expired@record:11',
      'checker_is_filler@record:4',
      'clock_jump@event:3',
      'clock_jump@record:9',
      'interrupted@record:8',
      'late_upload@record:15',
      'past_inspection@record:5',
      'rejected_upload@upload:16',
      'unauthorised_fill@event:4',
      'unauthorised_fill@record:10',
      'unchecked@record:2',
      'unchecked@record:3',
      'unresolved_overfill@record:6',
    ]);
    assert.is(r.eventsAvailable, true);
    assert.is(r.counts.unchecked, 2);
    assert.is(r.counts.filled_elsewhere, 0);
    const over = r.exceptions.find((e) => e.kind === 'unresolved_overfill')!;
    assert.is(over.cylinderCode, 'OVER-1');
    assert.equal(over.facts, { netKg: 15.4, allowedKg: 14.9 });
    assert.is(r.exceptions.find((e) => e.kind === 'checker_is_filler')!.who, 'B001 / B009', 'a second card of the filler is the same person by certificate');
    // The period applies to every source.
    const early = await exceptionsReport(s2.src, { station: 'ST01', fromMs: T0, toMs: T0 + 35 * MIN });
    assert.equal(early.exceptions.map((e) => `${e.kind}:${e.seq}`), ['unchecked:2', 'unchecked:3', 'checker_is_filler:4']);
    await s2.store.close();
  });

  test('exceptions: one breach seen twice is listed once (unauthorised fill as record and event, a clock jump as event and record); the decant hold is not a decant; a tripped overfill is not "unchecked"', async () => {
    const { store, src } = await open(() => T0 + 60 * MIN);
    const recs = signedChain(keys.privateKey, 'ST01', [
      { min: 0 }, // 1 clean
      { min: 10, set: { outcome: 'unauthorised_fill', trips: [{ code: 'UNAUTHORISED_FILL', at: '2026-03-01T08:10:00.000+08:00' }], cylinderCode: undefined, filler: undefined, ...noChecker } }, // 2
      { min: 20, set: { outcome: 'overfilled', mustDecant: true, trips: [{ code: 'OVERFILL', at: '2026-03-01T08:20:00.000+08:00' }], netFilledG: 15_400, cylinderCode: 'OVER-9', ...noChecker } }, // 3 tripped overfill, held
      { min: 31, set: { clockJumpMs: 600_000 } }, // 4 the same jump as the event at min 30
    ]);
    assert.ok((await store.ingest(recs)).every((r) => r.status === 'accepted'));
    await insertEvents(store, keys.privateKey, 'ST01', [
      { min: 10, kind: 'fill.unauthorised', post: 'P1', subject: 'ST01-2', reason: 'UNAUTHORISED_FILL', data: { attemptId: 'ST01-2' } },
      { min: 20, kind: 'registry.cylinder.decant_hold', subject: 'OVER-9', reason: 'OVERFILLED_MUST_DECANT', data: { attemptId: 'ST01-3' } },
      { min: 30, kind: 'clock.jump', reason: 'CLOCK_JUMP', data: { jumpMs: 600_000 } },
      { min: 40, kind: 'fill.unauthorised', post: 'P2', subject: 'P2-9', reason: 'UNAUTHORISED_FILL', data: { attemptId: 'P2-9' } }, // its record never arrived: the event stands in
    ]);
    const r = await exceptionsReport(src, { station: 'ST01' });
    assert.equal(r.exceptions.map((e) => `${e.kind}@${e.source}:${e.seq}`), [
      'unauthorised_fill@record:2',
      'unresolved_overfill@record:3',
      'clock_jump@event:3',
      'unauthorised_fill@event:4',
    ]);
    assert.is(r.exceptions[3]!.cylinderCode, undefined, "the attempt id is not a cylinder code");
    await store.close();
  });

  test('exceptions and the alarm log with no events uploaded: no error, overfills stay unresolved, the log is empty', async () => {
    const { store, src } = await open();
    await store.ingest(signedChain(keys.privateKey, 'ST01', breaches.slice(0, 8)));
    const r = await exceptionsReport(src, { station: 'ST01' });
    assert.is(r.counts.unresolved_overfill, 2, 'no decant can be known without events');
    const a = await alarmsReport(src, { station: 'ST01' });
    assert.equal(a.events, []);
    await store.close();
  });

  test('alarm and reset log: alarms, locks, resets and unauthorised fills of the station and period, in seq order; other kinds left out', async () => {
    const { store, src } = await open();
    await insertEvents(store, keys.privateKey, 'ST01', [
      { min: 1, kind: 'station.started' },
      { min: 2, kind: 'alarm.raised', subject: 'ld-P1', reason: 'LEAK', post: 'P1' },
      { min: 3, kind: 'latch.set', subject: 'leak', by: 'condition', reason: 'LEAK_ALARM' },
      { min: 4, kind: 'alarm.cleared', subject: 'ld-P1', reason: 'LEAK' },
      { min: 5, kind: 'latch.refused', subject: 'leak', by: 'B003', reason: 'NOT_SUPERVISOR' },
      { min: 6, kind: 'latch.lift', subject: 'leak', by: 'B007', reason: 'SUPERVISOR_RESET' },
      { min: 7, kind: 'registry.cylinders.imported' },
      { min: 8, kind: 'fill.unauthorised', post: 'P2', reason: 'UNAUTHORISED_FILL' },
    ]);
    await insertEvents(store, other.privateKey, 'ST02', [{ min: 2, kind: 'alarm.raised', subject: 'x' }]);
    const a = await alarmsReport(src, { station: 'ST01' });
    assert.equal(a.events.map((e) => `${e.seq} ${e.kind} ${e.by ?? ''}`.trim()), [
      '2 alarm.raised', '3 latch.set condition', '4 alarm.cleared', '5 latch.refused B003', '6 latch.lift B007', '8 fill.unauthorised',
    ]);
    const b = await alarmsReport(src, { station: 'ST01', fromMs: T0 + 3 * MIN, toMs: T0 + 5 * MIN });
    assert.equal(b.events.map((e) => e.seq), [3, 4]);
    await store.close();
  });

  test('fills per person with certificate validity: valid, expired (a fill after expiry), unknown expiry, no certificate; self-checks counted', async () => {
    const { store, src } = await open();
    const fillerOk = { badge: 'B001', name: '张三', certificate: 'P-1', certificateExpires: '2027-01-01' };
    const fillerOld = { badge: 'B003', name: '王五', certificate: 'P-3', certificateExpires: '2026-02-15' };
    const checker = { badge: 'B002', name: '李四', certificate: 'P-2' };
    const noCert = { badge: 'B004', name: '赵六' };
    await store.ingest(signedChain(keys.privateKey, 'ST01', [
      { min: 0, set: { filler: fillerOk, checker } },
      { min: 1, set: { filler: fillerOk, checker } },
      { min: 2, set: { filler: fillerOld, checker } },
      { min: 3, set: { filler: noCert, checker: { ...fillerOk, badge: 'B011' } } },
      { min: 4, set: { filler: fillerOk, checker: { ...fillerOk, badge: 'B011' } } },
      { min: 5, set: { outcome: 'refused', filler: fillerOld, refusals: [{ code: 'CERTIFICATE_EXPIRED' }], startedAt: undefined, netFilledG: undefined } },
    ]));
    const p = await personsReport(src, { station: 'ST01' });
    const by = Object.fromEntries(p.persons.map((x) => [x.key, x]));
    assert.equal(Object.keys(by).sort(), ['P-1', 'P-2', 'P-3', 'badge:B004']);
    assert.equal([by['P-1'].fills, by['P-1'].checks, by['P-1'].selfChecked, by['P-1'].validity, by['P-1'].badges], [3, 2, 1, 'valid', ['B001', 'B011']]);
    assert.equal([by['P-3'].fills, by['P-3'].afterExpiry, by['P-3'].validity], [1, 1, 'expired'], 'the refused attempt is not a fill');
    assert.equal([by['P-2'].checks, by['P-2'].validity], [3, 'unknown']);
    assert.equal([by['badge:B004'].fills, by['badge:B004'].validity], [1, 'none']);
    await store.close();
  });

  test("a cylinder's history across stations flags one code filled at two units within the refill interval (a pocket code one station cannot see)", async () => {
    const { store, src } = await open();
    await store.ingest(signedChain(keys.privateKey, 'ST01', [
      { min: 0, set: { cylinderCode: 'POCKET' } },
      { min: 5, set: { cylinderCode: 'OTHER' } },
      { min: 300, set: { cylinderCode: 'POCKET' } },
    ]));
    await store.ingest(signedChain(other.privateKey, 'ST02', [
      { min: 12, set: { cylinderCode: 'POCKET' } }, // 12 min after ST01's fill: flagged
      { min: 100, set: { cylinderCode: 'POCKET', outcome: 'refused', refusals: [{ code: 'REFILLED_TOO_SOON' }], netFilledG: undefined, startedAt: undefined } },
    ], 'UNIT-YY-02'));
    const h = await cylinderReport(src, 'POCKET');
    assert.equal(h.history.map((x) => `${x.station}:${x.seq}:${x.flag ?? ''}`), ['ST01:1:', 'ST02:1:two_units_within_interval', 'ST02:2:', 'ST01:3:']);
    assert.equal(h.history[1].previous, { station: 'ST01', unit: 'UNIT-ZZ-01', seq: 1, at: '2026-03-01T08:00:00.000+08:00', minutesApart: 12 });
    assert.equal([h.stations, h.units, h.flagged], [['ST01', 'ST02'], ['UNIT-YY-02', 'UNIT-ZZ-01'], 1]);
    assert.is((await cylinderReport(src, 'POCKET', {}, { refillIntervalMs: 10 * MIN })).flagged, 0, 'the interval is a setting');
    // Each station's exception list names the other station's fill.
    const e1 = (await exceptionsReport(src, { station: 'ST01' })).exceptions.filter((e) => e.kind === 'filled_elsewhere');
    assert.equal(e1.map((e) => [e.seq, e.cylinderCode, e.facts.otherStation, e.facts.otherUnit, e.facts.minutesApart]), [[1, 'POCKET', 'ST02', 'UNIT-YY-02', 12]]);
    const e2 = (await exceptionsReport(src, { station: 'ST02' })).exceptions.filter((e) => e.kind === 'filled_elsewhere');
    assert.equal(e2.map((e) => e.seq), [1]);
    await store.close();
  });

  test('records are read a page at a time: every record once, in seq order, across page boundaries', async () => {
    const { store, src } = await open();
    await store.ingest(signedChain(keys.privateKey, 'ST01', Array.from({ length: 23 }, (_, i) => ({ min: i }))));
    const seen: number[] = [];
    for await (const { row } of scanRecords(src, { station: 'ST01' }, 5)) seen.push(row.seq);
    assert.equal(seen, Array.from({ length: 23 }, (_, i) => i + 1));
    assert.is((await summaryReport(src, { station: 'ST01' }, { pageSize: 4 })).records, 23);
    await store.close();
  });

}

const sqlite = suite('reports on SQLite');
let n = 0;
const dirs: (() => void)[] = [];
reportTests((name, fn) => sqlite(name, fn), async () => {
  // Half in memory, half in a file (WAL), like the receiver suite.
  if (n++ % 2 === 0) return ':memory:';
  const t = tempDir('fg-rx-rep-');
  dirs.push(t.cleanup);
  return join(t.dir, 'rx.db');
});
sqlite('a receiver database made before the report columns gets them, filled from the stored records', async () => {
  const tmp = tempDir('fg-rx-mig-');
  try {
    const path = join(tmp.dir, 'rx.db');
    const recs = signedChain(keys.privateKey, 'ST01', [{ min: 0, set: { cylinderCode: 'OLD-1' } }, { min: 1 }]);
    const old = new Database(path);
    old.exec(`CREATE TABLE stations (code TEXT PRIMARY KEY, public_key TEXT NOT NULL, registered_ms INTEGER NOT NULL);
CREATE TABLE received (station TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  recorded_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, lag_ms INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (station, seq), UNIQUE (station, id));
CREATE TABLE rejections (station TEXT, id TEXT, seq INTEGER, reason TEXT NOT NULL, message TEXT NOT NULL, at_ms INTEGER NOT NULL);`);
    const st = old.prepare('INSERT INTO received VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (const r of recs) st.run('ST01', r.seq, r.id, 'h' + r.seq, r.prevHash, Date.parse(r.recordedAt), Date.parse(r.recordedAt), 0, JSON.stringify(r));
    old.close();
    const store = await openReceiverStore({ dbPath: path, stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
    const src = store.reportSource();
    assert.equal((await cylinderReport(src, 'OLD-1')).history.map((h) => h.seq), [1]);
    assert.equal((await summaryReport(src, { station: 'ST01' })).byOutcome, { filled: 2 });
    await store.close();
  } finally {
    tmp.cleanup();
  }
});

sqlite.after(() => dirs.forEach((c) => c()));
sqlite.run();

const postgres: Test = suite('reports on PostgreSQL');
const why = missing(INITDB);
let server: TestPostgres | undefined;
let dbs = 0;
postgres.before(async () => {
  if (!why) server = await startPostgres();
});
postgres.after(async () => {
  await server?.stop();
});
reportTests(skipIf(postgres, why), async () => server!.createDatabase(`rep${++dbs}`));
postgres.run();
