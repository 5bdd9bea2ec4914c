/**
 * The regulator's side (issue 5 §3): verify each record against the station's
 * registered key and hash chain, store accepted records exactly once, and say
 * per record accepted | duplicate | rejected(reason). A seq gap means records
 * were removed at the station: it is reported, and what verifies is still
 * stored (regulators want to know of gaps and keep what is genuine).
 */
import Database from '../sqlite.ts';
import type { FillRecordV1 } from '../records/record.ts';
import { toPublicKey, publicKeyPemOf } from '../records/keys.ts';
import { PreparePool } from './prepare-pool.ts';
import type { Prepared, PreparedRecord } from './prepare.ts';

export type RejectReason = 'BAD_FORMAT' | 'UNKNOWN_STATION' | 'BAD_SIGNATURE' | 'CONFLICT' | 'BROKEN_CHAIN';

export interface RecordResult {
  id: string;
  seq?: number;
  status: 'accepted' | 'duplicate' | 'rejected';
  reason?: RejectReason;
  message?: string;
  /** Send again later (the station is not registered yet): not a verdict on the record. */
  retryable?: boolean;
  /** Accepted after a hole: these seqs are missing. */
  gap?: { from: number; to: number };
}

export interface StationReport {
  station: string;
  accepted: number;
  firstSeq?: number;
  lastSeq?: number;
  lastRecordAt?: string;
  lastReceivedAt?: string;
  gaps: { from: number; to: number }[];
  missing: number;
  late: number;
  maxLagMs: number;
  rejected: number;
}

export interface ReceiverStoreOptions {
  dbPath: string;
  stations?: Record<string, string>;
  /** An upload later than this after the record was made counts as late (default 1 h, the station's warn age). */
  lateAfterMs?: number;
  verifyThreads?: number;
  now?: () => number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS stations (code TEXT PRIMARY KEY, public_key TEXT NOT NULL, registered_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS received (
  station TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  recorded_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, lag_ms INTEGER NOT NULL, body TEXT NOT NULL,
  cylinder TEXT, outcome TEXT,
  PRIMARY KEY (station, seq), UNIQUE (station, id)
);
CREATE INDEX IF NOT EXISTS received_time ON received(station, recorded_ms);
CREATE TABLE IF NOT EXISTS rejections (station TEXT, id TEXT, seq INTEGER, reason TEXT NOT NULL, message TEXT NOT NULL, at_ms INTEGER NOT NULL);
`;

/**
 * The inspector's reports (reports.ts) look a cylinder up across all stations:
 * its code and the outcome are columns beside the body, indexed. A database
 * made before them gets the columns and is backfilled once from the bodies.
 */
function migrateReportColumns(db: Database.Database): void {
  const cols = new Set((db.prepare('PRAGMA table_info(received)').all() as { name: string }[]).map((c) => c.name));
  db.transaction(() => {
    if (!cols.has('cylinder')) {
      db.exec('ALTER TABLE received ADD COLUMN cylinder TEXT');
      db.exec("UPDATE received SET cylinder = json_extract(body, '$.cylinderCode')");
    }
    if (!cols.has('outcome')) {
      db.exec('ALTER TABLE received ADD COLUMN outcome TEXT');
      db.exec("UPDATE received SET outcome = json_extract(body, '$.outcome')");
    }
    db.exec('CREATE INDEX IF NOT EXISTS received_cylinder ON received(cylinder, recorded_ms)');
  })();
}

export class ReceiverStore {
  readonly db: Database.Database;
  private pool: PreparePool;
  /** Highest accepted seq and its hash per station: the in-order fast path skips two lookups. */
  private tips = new Map<string, { seq: number; hash: string }>();
  readonly lateAfterMs: number;
  private readonly now: () => number;

  constructor(opts: ReceiverStoreOptions) {
    this.db = new Database(opts.dbPath);
    if (opts.dbPath !== ':memory:') this.db.pragma('journal_mode = WAL');
    // An acknowledgement is a promise to keep the record: commit durably first.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    migrateReportColumns(this.db);
    this.lateAfterMs = opts.lateAfterMs ?? 3_600_000;
    this.now = opts.now ?? Date.now;
    this.pool = new PreparePool(opts.verifyThreads ?? 0);
    for (const [code, key] of Object.entries(opts.stations ?? {})) this.registerStation(code, key);
    const rows = this.stmt('SELECT code, public_key FROM stations').all() as { code: string; public_key: string }[];
    this.pool.setKeys(Object.fromEntries(rows.map((r) => [r.code, r.public_key])));
  }

  private stmts = new Map<string, Database.Statement>();
  /** Prepared statements are compiled once (the ingest path runs per record). */
  private stmt(sql: string): Database.Statement {
    let st = this.stmts.get(sql);
    if (!st) this.stmts.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  /** Register (or re-key) a station; the PEM is normalised so equal keys compare equal. */
  registerStation(code: string, key: string): void {
    const pem = publicKeyPemOf(toPublicKey(key));
    this.stmt('INSERT INTO stations (code, public_key, registered_ms) VALUES (?, ?, ?) ON CONFLICT(code) DO UPDATE SET public_key = excluded.public_key').run(code, pem, this.now());
    this.pool?.setKeys({ [code]: pem });
  }

  /** Resolves once the verify workers are loaded (the first batch should not pay for it). */
  ready(): Promise<void> {
    return this.pool.ready;
  }

  /** Records as parsed JSON values (tests, other clients). */
  ingest(records: unknown[]): Promise<RecordResult[]> {
    return this.ingestLines(records.map((r) => JSON.stringify(r) ?? 'null'));
  }

  /**
   * Records as JSON texts, one per record (the uploader's NDJSON body). Each
   * chunk is committed as soon as it is verified, in order; the caller
   * answers only after all are committed. A crash in between loses nothing:
   * unanswered records are resent and the committed ones come back "duplicate".
   */
  async ingestLines(lines: string[]): Promise<RecordResult[]> {
    const results: RecordResult[] = [];
    for (const chunk of this.pool.prepareChunks(lines)) {
      const prepared = await chunk;
      results.push(...this.commit(prepared));
    }
    return results;
  }

  private commit(prepared: Prepared[]): RecordResult[] {
    try {
      return this.db.transaction(() =>
        prepared.map((p) => {
          const r: RecordResult = p.ok ? this.store(p) : { id: p.id, seq: p.seq, status: 'rejected', reason: p.reason, message: p.message, retryable: p.retryable };
          if (r.status === 'rejected' && !r.retryable) this.logRejection(p.station, r);
          return r;
        }),
      )();
    } catch (err) {
      this.tips.clear(); // rolled back: the cached tips may be ahead of the database
      throw err;
    }
  }

  private store(p: PreparedRecord): RecordResult {
    const base = { id: p.id, seq: p.seq };
    const same = this.stmt('SELECT seq, hash FROM received WHERE station = ? AND id = ?').get(p.station, p.id) as { seq: number; hash: string } | undefined;
    if (same) {
      if (same.hash === p.hash && same.seq === p.seq) return { ...base, status: 'duplicate' };
      return { ...base, status: 'rejected', reason: 'CONFLICT', message: `id ${p.id} was already accepted (seq ${same.seq}) with different content` };
    }
    if (!p.sigOk) return { ...base, status: 'rejected', reason: 'BAD_SIGNATURE', message: `signature does not verify with the registered key of station ${p.station}: record forged or altered` };
    const tip = this.tip(p.station);
    const inOrder = p.seq === tip.seq + 1 && p.prevHash === tip.hash;
    if (!inOrder) {
      const at = this.stmt('SELECT id FROM received WHERE station = ? AND seq = ?').get(p.station, p.seq) as { id: string } | undefined;
      if (at) return { ...base, status: 'rejected', reason: 'CONFLICT', message: `seq ${p.seq} already holds record ${at.id}: a second chain for station ${p.station}` };
    }
    const chain = inOrder ? {} : this.chainCheck(p);
    if (chain.error) return { ...base, status: 'rejected', reason: 'BROKEN_CHAIN', message: chain.error };
    const receivedMs = this.now();
    this.stmt('INSERT INTO received (station, seq, id, hash, prev_hash, recorded_ms, received_ms, lag_ms, body, cylinder, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      p.station, p.seq, p.id, p.hash, p.prevHash, p.recordedMs, receivedMs, Math.max(0, receivedMs - p.recordedMs), p.body, p.cylinder ?? null, p.outcome ?? null,
    );
    if (p.seq > tip.seq) this.tips.set(p.station, { seq: p.seq, hash: p.hash });
    return { ...base, status: 'accepted', gap: chain.gap };
  }

  private tip(station: string): { seq: number; hash: string } {
    let t = this.tips.get(station);
    if (!t) {
      const row = this.stmt('SELECT seq, hash FROM received WHERE station = ? ORDER BY seq DESC LIMIT 1').get(station) as { seq: number; hash: string } | undefined;
      t = row ?? { seq: 0, hash: '0'.repeat(64) };
      this.tips.set(station, t);
    }
    return t;
  }

  /** The record must link to its stored neighbours; a missing neighbour is a gap, reported not fatal. */
  private chainCheck(p: PreparedRecord): { error?: string; gap?: { from: number; to: number } } {
    const before = this.stmt('SELECT seq, hash FROM received WHERE station = ? AND seq < ? ORDER BY seq DESC LIMIT 1').get(p.station, p.seq) as { seq: number; hash: string } | undefined;
    const after = this.stmt('SELECT seq, prev_hash FROM received WHERE station = ? AND seq = ?').get(p.station, p.seq + 1) as { seq: number; prev_hash: string } | undefined;
    if (before && before.seq === p.seq - 1 && before.hash !== p.prevHash) {
      return { error: `prevHash does not match accepted record seq ${before.seq}: the station's chain was altered or forked` };
    }
    if (!before && p.seq === 1 && !/^0{64}$/.test(p.prevHash)) return { error: 'seq 1 must carry the genesis prevHash (64 zeros)' };
    if (after && after.prev_hash !== p.hash) return { error: `accepted record seq ${after.seq} does not link to this record: it is not the original seq ${p.seq}` };
    const lastSeq = before?.seq ?? 0;
    return p.seq > lastSeq + 1 ? { gap: { from: lastSeq + 1, to: p.seq - 1 } } : {};
  }

  private logRejection(station: string | undefined, r: RecordResult): void {
    this.stmt('INSERT INTO rejections (station, id, seq, reason, message, at_ms) VALUES (?, ?, ?, ?, ?, ?)').run(station ?? null, r.id, r.seq ?? null, r.reason ?? '', r.message ?? '', this.now());
  }

  stationCodes(): string[] {
    const rows = this.stmt('SELECT code FROM stations UNION SELECT DISTINCT station FROM received ORDER BY 1').all() as { code: string }[];
    return rows.map((r) => r.code);
  }

  report(station: string): StationReport {
    const s = this.stmt('SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last, SUM(lag_ms > ?) AS late, MAX(lag_ms) AS maxLag, MAX(received_ms) AS lastRx FROM received WHERE station = ?')
      .get(this.lateAfterMs, station) as { n: number; first: number | null; last: number | null; late: number | null; maxLag: number | null; lastRx: number | null };
    const lastRow = s.last === null ? undefined : (this.stmt('SELECT body FROM received WHERE station = ? AND seq = ?').get(station, s.last) as { body: string });
    const gaps = this.stmt('SELECT prev + 1 AS "from", seq - 1 AS "to" FROM (SELECT seq, LAG(seq, 1, 0) OVER (ORDER BY seq) AS prev FROM received WHERE station = ?) WHERE seq > prev + 1')
      .all(station) as { from: number; to: number }[];
    const rejected = (this.stmt('SELECT COUNT(*) AS n FROM rejections WHERE station = ?').get(station) as { n: number }).n;
    return {
      station,
      accepted: s.n,
      firstSeq: s.first ?? undefined,
      lastSeq: s.last ?? undefined,
      lastRecordAt: lastRow ? (JSON.parse(lastRow.body) as FillRecordV1).recordedAt : undefined,
      lastReceivedAt: s.lastRx === null ? undefined : new Date(s.lastRx).toISOString(),
      gaps,
      missing: gaps.reduce((n, g) => n + g.to - g.from + 1, 0),
      late: s.late ?? 0,
      maxLagMs: s.maxLag ?? 0,
      rejected,
    };
  }

  /** Accepted records of one station, in seq order, made in [fromMs, toMs). */
  records(station: string, fromMs = -8.64e15, toMs = 8.64e15): FillRecordV1[] {
    const rows = this.stmt('SELECT body FROM received WHERE station = ? AND recorded_ms >= ? AND recorded_ms < ? ORDER BY seq').all(station, fromMs, toMs) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as FillRecordV1);
  }

  async close(): Promise<void> {
    await this.pool.close();
    if (this.db.open) this.db.close();
  }
}
