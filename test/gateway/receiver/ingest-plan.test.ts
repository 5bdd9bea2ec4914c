/**
 * The SQLite receiver judges each batch against the stored rows at its seqs and ids and each
 * seq's floor. Those reads must be index lookups: the earlier `station = ? AND (seq IN … OR id IN …)`
 * walked all of the station's rows for every batch, so a station's catch-up of 100,000 records
 * slowed as it went (1,500 records/s, `npm run bench -- records`) and every batch of a station with
 * two years of records read them all. Here: the batch verdicts are right (accepted, a resend
 * answered duplicate) and the plans of the reads touch the table only through (station, seq) or
 * (station, id) lookups.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { systemClock } from '../../../protocols/clock.ts';
import { RecordStore } from '../../../gateway/records/store.ts';
import { openReceiverStore } from '../../../gateway/receiver/store.ts';
import type { SqliteReceiverStore } from '../../../gateway/receiver/sqlite-store.ts';
import { makeAttempt, makeKeys, tempDir } from '../records/fixtures.ts';

test("a batch is judged from index lookups, never a walk of the station's rows", async () => {
  const { dir, cleanup } = tempDir('fg-rx-plan-');
  const keys = makeKeys();
  const gw = new RecordStore({ db: join(dir, 'gw.db'), clock: systemClock, station: 'ST01', privateKey: keys.privateKey });
  const recs = Array.from({ length: 60 }, (_, i) => gw.append(makeAttempt(i + 1)));
  const rx = (await openReceiverStore({ dbPath: join(dir, 'rx.db'), stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 })) as SqliteReceiverStore;
  try {
    const seen: string[] = [];
    const prepare = rx.db.prepare.bind(rx.db);
    rx.db.prepare = ((sql: string) => (seen.push(sql), prepare(sql))) as typeof rx.db.prepare;
    try {
      assert.ok((await rx.ingest(recs.slice(0, 30))).every((r) => r.status === 'accepted'));
      const second = await rx.ingest([recs[9], ...recs.slice(30)]);
      assert.equal(second[0]!.status, 'duplicate', 'a resend of record 10 is answered duplicate');
      assert.ok(second.slice(1).every((r) => r.status === 'accepted'));
    } finally {
      rx.db.prepare = prepare;
    }
    const views = seen.filter((sql) => sql.includes('json_each') && sql.includes('received'));
    assert.ok(views.length >= 2, `the batch view's reads were prepared: ${views.length}`);
    for (const sql of views) {
      // The rows' read takes seqs, station, ids, station; the floors' read seqs, station, station.
      const params = sql.match(/\?/g)?.length === 4 ? ['[]', 'ST01', '[]', 'ST01'] : ['[]', 'ST01', 'ST01'];
      const plan = (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail);
      // Every read of the table (by its name or an alias), not of json_each's virtual table.
      const onTable = plan.filter((d) => /^(SEARCH|SCAN) /.test(d) && !d.includes('VIRTUAL TABLE'));
      assert.ok(onTable.length > 0, `plan reads the table: ${plan.join(' | ')}`);
      for (const d of onTable) {
        assert.not.match(d, /^SCAN /, `a scan of the table: ${d}`);
        assert.match(d, /\(station=\? AND (seq=\?|id=\?|seq<\?)\)/, `a lookup by station alone walks the station's rows: ${d}\n${sql}`);
      }
    }
  } finally {
    await rx.close();
    gw.close();
    cleanup();
  }
});

test.run();
