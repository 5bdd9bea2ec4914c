/**
 * The PostgreSQL store's accept path (pg-store.ts `commit`), in as few round trips as the
 * semantics allow (issue 11 point 4: a batch on PostgreSQL cost ~0.52 ms per record, 8 round
 * trips per single-station chunk, each one a wait for the server on a loaded machine):
 *
 *   1. `BEGIN` and the stations' advisory locks, one simple-protocol message (no parameters:
 *      the lock keys are literals, escaped by the driver);
 *   2. per station, the rows around its chunk (`VIEW`): the chunk's seq range, the floor below
 *      it, and the rows at its ids; the floors of every seq follow in JS;
 *   3. one statement for everything the chunk writes (`INSERT_RECORDS` / `INSERT_EVENTS`):
 *      keys with `ON CONFLICT DO NOTHING`, bodies of the keys kept, the stations' last
 *      upload, the rejections, as data-modifying CTEs over `unnest` arrays;
 *   4. `COMMIT`.
 *
 * Each statement with parameters is prepared once per connection (a name), so the server
 * plans it once. Order matters: the view is read by a statement after the lock's, so in READ
 * COMMITTED it sees everything the previous holder of the lock committed.
 */
import type pg from 'pg';
import { emptyView, seqsNeeded, type ChainRow, type ChainView } from './chain.ts';
import type { Chain, Item, RecordResult } from './store.ts';

type Row = { k: number; seq: number; id: string; hash: string; prev_hash: string };
const toChainRow = (r: Row): ChainRow => ({ seq: r.seq, id: r.id, hash: r.hash, prevHash: r.prev_hash });

/** A chunk whose seqs spread wider than this reads each seq's floor on its own (a range read would be too long). */
const RANGE_SLACK = 1000;

/**
 * Step 1: open the transaction and take the stations' locks, in sorted order (so two nodes with
 * overlapping chunks cannot deadlock). The keys are those used since issue 11, so nodes of the
 * previous release lock the same stations during a rolling upgrade.
 */
export async function beginLocked(c: pg.PoolClient, chain: Chain, stations: string[]): Promise<void> {
  const locks = [...stations].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((s) => `SELECT pg_advisory_xact_lock(hashtextextended(${c.escapeLiteral(`${chain}:${s}`)}, 0));`);
  await c.query(['BEGIN;', ...locks].join(' '));
}

const view = (table: string) => ({
  name: `rx-view-${table}`,
  text: `SELECT 0 AS k, seq, id, hash, prev_hash FROM ${table} WHERE station = $1 AND seq BETWEEN $2 AND $3
         UNION ALL (SELECT 1, seq, id, hash, prev_hash FROM ${table} WHERE station = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1)
         UNION ALL SELECT 2, seq, id, hash, prev_hash FROM ${table} WHERE station = $1 AND id = ANY($4::text[])`,
});
const spreadRows = (table: string) => ({
  name: `rx-rows-${table}`,
  text: `SELECT 0 AS k, seq, id, hash, prev_hash FROM ${table} WHERE station = $1 AND (seq = ANY($2::bigint[]) OR id = ANY($3::text[]))`,
});
const spreadFloors = (table: string) => ({
  name: `rx-floors-${table}`,
  text: `SELECT s, f.seq, f.id, f.hash, f.prev_hash FROM unnest($2::bigint[]) s
           LEFT JOIN LATERAL (SELECT seq, id, hash, prev_hash FROM ${table} WHERE station = $1 AND seq < s ORDER BY seq DESC LIMIT 1) f ON true`,
});

/** A chunk with seqs far apart (old resends beside new records): the rows at its seqs and ids, and each seq's floor on its own. */
async function loadSpread(c: pg.PoolClient, table: string, station: string, cands: { seq: number; id: string }[], ids: Set<string>): Promise<ChainView> {
  const v = emptyView();
  for (const r of (await c.query<Row>({ ...spreadRows(table), values: [station, seqsNeeded(cands), [...ids]] })).rows) {
    const row = toChainRow(r);
    if (ids.has(r.id)) v.byId.set(r.id, row);
    v.bySeq.set(r.seq, row);
  }
  const floors = await c.query<Row & { s: number }>({ ...spreadFloors(table), values: [station, cands.map((x) => x.seq)] });
  for (const f of floors.rows) v.floor.set(f.s, f.seq === null ? undefined : toChainRow(f));
  return v;
}

/**
 * Step 2: the stored rows a station's chunk needs (chain.ts `ChainView`): at each seq and
 * seq+1, at each id, and each seq's floor (the highest stored seq below it). One query: every
 * row of [min seq, max seq + 1] and the floor of min seq hold all of them.
 */
export async function loadView(c: pg.PoolClient, table: string, station: string, cands: { seq: number; id: string }[]): Promise<ChainView> {
  const v = emptyView();
  const ids = new Set(cands.map((x) => x.id));
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of cands) (lo = Math.min(lo, x.seq)), (hi = Math.max(hi, x.seq));
  if (hi - lo > cands.length + RANGE_SLACK) return loadSpread(c, table, station, cands, ids);
  const rows = (await c.query<Row>({ ...view(table), values: [station, lo, hi + 1, [...ids]] })).rows;
  const inRange: ChainRow[] = [];
  let below: ChainRow | undefined;
  for (const r of rows) {
    const row = toChainRow(r);
    if (r.k === 1) below = row;
    else {
      v.bySeq.set(r.seq, row);
      if (r.k === 0) inRange.push(row);
    }
    if (ids.has(r.id)) v.byId.set(r.id, row);
  }
  // Floors from the sorted range and the row below it: each seq's floor is the last row before it.
  inRange.sort((a, b) => a.seq - b.seq);
  const order = [...new Set(cands.map((x) => x.seq))].sort((a, b) => a - b);
  let i = 0;
  let floor = below;
  for (const s of order) {
    while (i < inRange.length && inRange[i].seq < s) floor = inRange[i++];
    v.floor.set(s, floor);
  }
  return v;
}

export type Insert = { item: Item & { ok: true }; index: number };
export type Rejection = { station?: string; result: RecordResult };

const INSERT_RECORDS = {
  name: 'rx-insert-records',
  text: `WITH t AS MATERIALIZED (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], string_to_array($7, chr(30)), $14::text[], $15::text[]) AS t(station, seq, id, hash, prev_hash, recorded_ms, body, cylinder, outcome)),
          k AS (INSERT INTO received_index (station, seq, id, hash, prev_hash, recorded_ms) SELECT station, seq, id, hash, prev_hash, recorded_ms FROM t ON CONFLICT DO NOTHING RETURNING station, seq),
          r AS (INSERT INTO received (station, seq, id, hash, prev_hash, recorded_ms, received_ms, lag_ms, body, cylinder, outcome)
                SELECT t.station, t.seq, t.id, t.hash, t.prev_hash, t.recorded_ms, $8, GREATEST(0, $8 - t.recorded_ms), t.body, t.cylinder, t.outcome FROM t JOIN k USING (station, seq)),
          u AS (UPDATE stations SET last_received_ms = $8 WHERE code IN (SELECT station FROM k)),
          j AS (INSERT INTO rejections (station, id, seq, reason, message, at_ms) SELECT *, $8::bigint FROM unnest($9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[]))
     SELECT station, seq FROM k`,
};

const INSERT_EVENTS = {
  name: 'rx-insert-events',
  text: `WITH k AS (INSERT INTO received_events (station, seq, id, hash, prev_hash, recorded_ms, kind, received_ms, body)
                SELECT s, q, i, h, p, r, kd, $8, b FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], string_to_array($14, chr(30))) AS t(s, q, i, h, p, r, kd, b)
                ON CONFLICT DO NOTHING RETURNING station, seq),
          j AS (INSERT INTO event_rejections (station, id, seq, reason, message, at_ms) SELECT *, $8::bigint FROM unnest($9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[]))
     SELECT station, seq FROM k`,
};

/**
 * The bodies as one text, split by the server at U+001E: a text[] parameter would escape every
 * quote of every JSON body on the way in (pg's array literal; the largest share of the node's
 * work per record) and unescape it in the server. A JSON text cannot hold U+001E unescaped
 * (RFC 8259 §7: control characters are escaped inside strings and are not whitespace), and
 * every body here was parsed as JSON; checked anyway, as a wrong split would shift bodies.
 */
function bodies(inserts: Insert[]): string | null {
  if (inserts.length === 0) return null;
  if (inserts.some((x) => x.item.body.includes('\x1e'))) throw new Error('a record body holds U+001E: not a JSON text');
  return inserts.map((x) => x.item.body).join('\x1e');
}

/**
 * Step 3: write a chunk's accepted items and its rejections in one statement; returns the
 * keys actually inserted (a key another transaction took is missing: settled by the caller).
 */
export async function writeChunk(c: pg.PoolClient, chain: Chain, inserts: Insert[], rejections: Rejection[], now: number): Promise<{ station: string; seq: number }[]> {
  const col = <T>(f: (x: Item & { ok: true }) => T) => inserts.map((x) => f(x.item));
  const keys = [col((x) => x.cand.station), col((x) => x.cand.seq), col((x) => x.cand.id), col((x) => x.cand.hash), col((x) => x.cand.prevHash), col((x) => x.cand.recordedMs)];
  const rej = [rejections.map((r) => r.station ?? null), rejections.map((r) => r.result.id), rejections.map((r) => r.result.seq ?? null), rejections.map((r) => r.result.reason ?? ''), rejections.map((r) => r.result.message ?? '')];
  const q =
    chain === 'records'
      ? { ...INSERT_RECORDS, values: [...keys, bodies(inserts), now, ...rej, col((x) => x.cylinder ?? null), col((x) => x.outcome ?? null)] }
      : { ...INSERT_EVENTS, values: [...keys, col((x) => x.kind ?? ''), now, ...rej, bodies(inserts)] };
  return (await c.query<{ station: string; seq: number }>(q)).rows;
}
