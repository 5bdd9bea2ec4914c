/**
 * The local fill-record store (issue 3 point 6): every attempt, refused ones
 * included, is committed to SQLite as one signed, sequenced, hash-chained v1
 * record before anything else happens with it. Append-only (db.ts triggers),
 * a full store refuses new fills instead of dropping old records (Kura #2006,
 * domain.md 7), and an in-progress journal turns a fill cut short by a process
 * kill into an 'interrupted' record on restart.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Statement } from 'better-sqlite3';
import type { Clock } from '../../protocols/clock.ts';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';
import { Signal } from '../../protocols/signal.ts';
import type { FillAttempt } from './types.ts';
import { GENESIS_HASH } from './canonical.ts';
import { recordsConfigSchema, type RecordsConfig } from './config.ts';
import { openRecordsDb, getMeta, setMeta, RECORD_STATUS, type Db, type StoredRow } from './db.ts';
import { buildRecord, checkAttempt, isoWithOffset, signRecord, type FillRecordV1 } from './record.ts';

export interface RecordStoreOptions {
  db: Db | string;
  clock: Clock;
  station: string;
  privateKey: KeyObject;
  config?: Partial<RecordsConfig>;
  /** Identifies this process run in records (monotonic time restarts per run). */
  bootId?: string;
}

export interface StoreHealth {
  bytes: number;
  limitBytes: number;
  /** New fills may use the store up to here; above it is the reserve for refusals and recovery. */
  fillLimitBytes: number;
  nearFull: boolean;
  diskFreeBytes?: number;
}

/** One post's in-progress journal: what the attempt knew at its last phase change. */
export interface JournalEntry {
  post: string;
  attempt: FillAttempt;
  /** The phase change that wrote it (scan, open, cutOff, settled, reweighed, checker…). */
  stage?: string;
  /** Wall ms of the first and of the last write. */
  sinceWallMs: number;
  updatedWallMs?: number;
}

/** What the station learned at start about an interrupted attempt (e.g. its re-weigh), merged into its record. */
export interface RecoveryExtra {
  fields?: Partial<FillAttempt>;
  /** Appended to the PROCESS_INTERRUPTED trip's detail. */
  note?: string;
}

export interface StoreCounts {
  total: number;
  pending: number;
  acked: number;
  rejected: number;
  /** Rejected records a supervisor settled (present only when there are some). */
  settled?: number;
  firstSeq?: number;
  lastSeq?: number;
}

export class RecordStore {
  readonly db: Db;
  readonly boot: string;
  readonly config: RecordsConfig;
  /** Emitted after each committed record (the uploader listens to wake up). */
  readonly appended = new Signal<FillRecordV1>();
  readonly stats = { appended: 0, duplicateAppends: 0, badInput: 0, storeFull: 0, recovered: 0 };
  private readonly owned: boolean;
  private readonly q: Record<'byId' | 'last' | 'insert' | 'clearProgress' | 'upsertProgress' | 'deleteProgress' | 'oldestPending' | 'journal', Statement>;

  constructor(private readonly opts: RecordStoreOptions) {
    const { db, owned } = openRecordsDb(opts.db);
    this.db = db;
    this.owned = owned;
    this.config = recordsConfigSchema.parse(opts.config ?? {});
    this.boot = opts.bootId ?? randomBytes(6).toString('hex');
    this.q = {
      byId: db.prepare('SELECT body FROM records WHERE id = ?'),
      last: db.prepare('SELECT seq, hash, wall_ms, mono_ms, boot FROM records ORDER BY seq DESC LIMIT 1'),
      insert: db.prepare('INSERT INTO records (seq, id, hash, wall_ms, mono_ms, boot, body) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      clearProgress: db.prepare('DELETE FROM records_in_progress WHERE post = ? AND attempt_id = ?'),
      // since_wall_ms stays that of the attempt's first journal write (recovery order); a new attempt at the post replaces it.
      upsertProgress: db.prepare(
        `INSERT INTO records_in_progress (post, attempt_id, attempt, since_wall_ms, stage, updated_wall_ms) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(post) DO UPDATE SET since_wall_ms = CASE WHEN attempt_id = excluded.attempt_id THEN since_wall_ms ELSE excluded.since_wall_ms END,
         attempt_id = excluded.attempt_id, attempt = excluded.attempt, stage = excluded.stage, updated_wall_ms = excluded.updated_wall_ms`,
      ),
      journal: db.prepare('SELECT post, attempt, stage, since_wall_ms, updated_wall_ms FROM records_in_progress ORDER BY since_wall_ms, post'),
      deleteProgress: db.prepare('DELETE FROM records_in_progress WHERE post = ?'),
      oldestPending: db.prepare('SELECT seq, wall_ms, mono_ms, boot FROM records WHERE status = 0 ORDER BY seq LIMIT 1'),
    };
  }

  get station(): string {
    return this.opts.station;
  }

  /** Commit one attempt as a record. Idempotent on attemptId (returns the stored record). */
  append(attempt: FillAttempt): FillRecordV1 {
    return this.appendMany([attempt])[0];
  }

  /** Commit several attempts in one transaction (one fsync): recovery, imports, benchmarks. */
  appendMany(attempts: FillAttempt[]): FillRecordV1[] {
    // No size check here: an attempt that happened is recorded (refusals and interrupted fills use the
    // reserve; new fills were stopped before it, see markInProgress and storeHealth). Only a full disk fails.
    const written: FillRecordV1[] = [];
    const out: FillRecordV1[] = [];
    try {
      this.db.transaction(() => {
        for (const a of attempts) {
          const r = this.insertOne(a);
          out.push(r.record);
          if (r.fresh) written.push(r.record);
        }
      })();
    } catch (err) {
      if (err instanceof FillgateError) {
        if (err.code === 'BAD_PAYLOAD') this.stats.badInput++;
        throw err;
      }
      const full = /SQLITE_FULL|database or disk is full/i.test(errorMessage(err));
      if (full) this.stats.storeFull++;
      throw new FillgateError(full ? 'STORE_FULL' : 'STORE_ERROR', `fill record not committed: ${errorMessage(err)}`, {}, { cause: err });
    }
    this.stats.appended += written.length;
    for (const r of written) this.appended.emit(r);
    return out;
  }

  private insertOne(input: FillAttempt): { record: FillRecordV1; fresh: boolean } {
    const dup = this.q.byId.get(input?.attemptId) as { body: string } | undefined;
    if (dup) {
      this.stats.duplicateAppends++;
      return { record: JSON.parse(dup.body) as FillRecordV1, fresh: false };
    }
    const { attempt, dataErrors } = checkAttempt(input);
    if (attempt.station !== this.station) {
      throw new FillgateError('BAD_PAYLOAD', `fill attempt for station ${attempt.station} handed to the store of ${this.station}`, { attemptId: attempt.attemptId });
    }
    const last = this.q.last.get() as Pick<StoredRow, 'seq' | 'hash' | 'wall_ms' | 'mono_ms' | 'boot'> | undefined;
    const wall = Math.round(this.opts.clock.wall());
    const mono = this.opts.clock.now();
    const prev = last ?? this.prunedThrough();
    const body = buildRecord(
      attempt,
      {
        seq: prev.seq + 1,
        prevHash: prev.hash,
        recordedAt: isoWithOffset(wall, this.config.utcOffsetMinutes),
        monoMs: Math.round(mono),
        boot: this.boot,
        clockJumpMs: last ? this.clockJump(last, wall, mono) : undefined,
      },
      dataErrors,
    );
    const { record, canonical, hash } = signRecord(body, this.opts.privateKey);
    this.q.insert.run(record.seq, record.id, hash, wall, mono, this.boot, canonical);
    this.q.clearProgress.run(attempt.post, attempt.attemptId);
    return { record, fresh: true };
  }

  /**
   * Within one run, wall − monotonic is constant unless the PC clock was set;
   * across a restart monotonic time restarts, so only a wall clock that went
   * backwards is detectable. Either way the jump is written into the record.
   */
  private clockJump(last: Pick<StoredRow, 'wall_ms' | 'mono_ms' | 'boot'>, wall: number, mono: number): number | undefined {
    const jump = last.boot === this.boot ? wall - mono - (last.wall_ms - last.mono_ms) : Math.min(0, wall - last.wall_ms);
    return Math.abs(jump) > this.config.clockJumpThresholdMs ? Math.round(jump) : undefined;
  }

  private prunedThrough(): { seq: number; hash: string } {
    return { seq: Number(getMeta(this.db, 'pruned_through_seq') ?? 0), hash: getMeta(this.db, 'pruned_through_hash') ?? GENESIS_HASH };
  }

  /** New fills stop here; the rest of limitBytes is the reserve. */
  private fillLimitBytes(): number {
    const c = this.config;
    const reserve = c.reserveBytes ?? Math.round(c.limitBytes * (1 - c.nearFullRatio));
    return Math.max(0, c.limitBytes - reserve);
  }

  private refuseIfFull(): void {
    const h = this.storeHealth();
    if (h.bytes >= h.fillLimitBytes) {
      this.stats.storeFull++;
      throw new FillgateError('STORE_FULL', `record store full for new fills (${h.bytes} of ${h.fillLimitBytes} bytes; the rest of ${h.limitBytes} is kept for refusals and recovery): no fill may start`, { ...h });
    }
  }

  storeHealth(): StoreHealth {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    const bytes = (pages - free) * pageSize;
    const limitBytes = this.config.limitBytes;
    const fillLimitBytes = this.fillLimitBytes();
    let diskFreeBytes: number | undefined;
    if (this.db.name && this.db.name !== ':memory:') {
      try {
        const s = statfsSync(dirname(this.db.name));
        diskFreeBytes = s.bavail * s.bsize;
      } catch {
        diskFreeBytes = undefined; // unknown: judged on size alone
      }
    }
    const lockAt = Math.min(limitBytes * this.config.nearFullRatio, fillLimitBytes);
    const nearFull = bytes >= lockAt || (diskFreeBytes !== undefined && diskFreeBytes < this.config.minDiskFreeBytes);
    return { bytes, limitBytes, fillLimitBytes, nearFull, diskFreeBytes };
  }

  // ---- in-progress journal ----------------------------------------------------------

  /**
   * Journal the attempt open at `post`: written at the scan and at each phase change that matters
   * (open, cut-off, settled, re-weigh, checker), so a process kill leaves a record of everything known.
   * `opens`: this write precedes a valve open, and a new fill may not start in the reserve (STORE_FULL).
   * An attempt already committed is never journalled again (a late write cannot resurrect it).
   * Returns false when it was not written for that reason.
   */
  markInProgress(post: string, attempt: FillAttempt, opts: { stage?: string; opens?: boolean } = {}): boolean {
    if (opts.opens) this.refuseIfFull();
    if (this.q.byId.get(attempt.attemptId)) return false;
    const wall = Math.round(this.opts.clock.wall());
    // The write that gates an open is synced (FULL). The other updates (scan, verified, cut-off,
    // settled, ...) are for a process that is killed: in WAL mode a NORMAL commit is in the file as
    // soon as it returns and survives the process; only a power cut may lose the last ones, which
    // leaves the synced entry before them, so the attempt is still recorded as interrupted and, if
    // its valve may have opened, re-weighed. An fsync per update held the posts' loop for
    // milliseconds each, ~8 per fill (issue 14 point 6).
    if (!opts.opens) this.db.pragma('synchronous = NORMAL');
    try {
      this.q.upsertProgress.run(post, attempt.attemptId, JSON.stringify(attempt), wall, opts.stage ?? null, wall);
    } finally {
      if (!opts.opens) this.db.pragma('synchronous = FULL');
    }
    return true;
  }

  clearInProgress(post: string): void {
    this.q.deleteProgress.run(post);
  }

  /** The journal as it stands (at start: the attempts the previous run left open). Unreadable entries are skipped and counted. */
  journal(): JournalEntry[] {
    const rows = this.q.journal.all() as { post: string; attempt: string; stage: string | null; since_wall_ms: number; updated_wall_ms: number | null }[];
    const out: JournalEntry[] = [];
    for (const row of rows) {
      let attempt: FillAttempt;
      try {
        attempt = JSON.parse(row.attempt) as FillAttempt;
      } catch {
        this.stats.badInput++;
        continue; // unreadable journal entry: nothing to record from it
      }
      out.push({ post: row.post, attempt, ...(row.stage ? { stage: row.stage } : {}), sinceWallMs: row.since_wall_ms, ...(row.updated_wall_ms !== null ? { updatedWallMs: row.updated_wall_ms } : {}) });
    }
    return out;
  }

  /**
   * At start-up: every journalled attempt becomes an 'interrupted' record carrying what the journal
   * knew (masses, times, people, checks) with exactly one PROCESS_INTERRUPTED trip, plus what `extra`
   * adds per attemptId (the re-weigh after the restart). Never bound by the store's size limits.
   */
  recoverInterrupted(extra: Record<string, RecoveryExtra> = {}): FillRecordV1[] {
    const attempts: FillAttempt[] = [];
    const at = isoWithOffset(Math.round(this.opts.clock.wall()), this.config.utcOffsetMinutes);
    for (const e of this.journal()) {
      const a = e.attempt;
      if (this.q.byId.get(a.attemptId)) continue; // committed just before the kill
      const more = extra[a.attemptId];
      const trips = (a.trips ?? []).filter((t) => t.code !== 'PROCESS_INTERRUPTED'); // journals of older versions carried one
      const journalled = (a.trips ?? []).find((t) => t.code === 'PROCESS_INTERRUPTED');
      const known = e.stage ? `last journalled: ${e.stage}${e.updatedWallMs !== undefined ? ` at ${isoWithOffset(e.updatedWallMs, this.config.utcOffsetMinutes)}` : ''}` : undefined;
      const detail = [known, more?.note].filter(Boolean).join('; ');
      const trip = { code: 'PROCESS_INTERRUPTED' as const, at: journalled?.at ?? at, ...(detail ? { detail: detail.slice(0, 512) } : {}) };
      attempts.push({ ...a, ...more?.fields, post: a.post ?? e.post, outcome: 'interrupted', trips: [...trips, trip], refusals: a.refusals ?? [] });
    }
    const written = attempts.length > 0 ? this.appendMany(attempts) : [];
    this.db.prepare('DELETE FROM records_in_progress').run();
    this.stats.recovered += written.length;
    return written;
  }

  // ---- what the uploader and status need --------------------------------------------

  pending(limit: number): StoredRow[] {
    return this.db.prepare('SELECT * FROM records WHERE status = 0 ORDER BY seq LIMIT ?').all(limit) as StoredRow[];
  }

  oldestPending(): Pick<StoredRow, 'seq' | 'wall_ms' | 'mono_ms' | 'boot'> | undefined {
    return this.q.oldestPending.get() as Pick<StoredRow, 'seq' | 'wall_ms' | 'mono_ms' | 'boot'> | undefined;
  }

  /** The oldest record not uploaded: waiting, or rejected and not resolved (issue 10 point 8). */
  oldestNotUploaded(): Pick<StoredRow, 'seq' | 'wall_ms' | 'mono_ms' | 'boot' | 'reject_reason'> | undefined {
    // Runs every second (the upload lock): the first waiting and the first rejected record each
    // from its partial index. `status IN (…) ORDER BY seq` walked the table from seq 1 through
    // every acknowledged record, a stall of the posts' loop that grew with the store.
    return this.db
      .prepare(
        `SELECT seq, wall_ms, mono_ms, boot, reject_reason FROM records WHERE seq = (SELECT MIN(s) FROM (
           SELECT MIN(seq) AS s FROM records WHERE status = ${RECORD_STATUS.pending}
           UNION ALL SELECT MIN(seq) FROM records WHERE status = ${RECORD_STATUS.rejected}))`,
      )
      .get() as Pick<StoredRow, 'seq' | 'wall_ms' | 'mono_ms' | 'boot' | 'reject_reason'> | undefined;
  }

  /** Records the platform rejected that are not resolved. */
  rejectedCount(): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM records WHERE status = ${RECORD_STATUS.rejected}`).get() as { n: number }).n;
  }

  /** Send rejected records again once their cause is fixed; see resendRejected below. */
  resendRejected(seqs?: number[]): number {
    return resendRejected(this.db, Math.round(this.opts.clock.wall()), seqs);
  }

  /** A supervisor records how a rejected record was resolved; see settleRejected below. */
  settleRejected(seq: number, by: string, note: string): void {
    settleRejected(this.db, Math.round(this.opts.clock.wall()), seq, by, note, this.config.utcOffsetMinutes);
  }

  /** Apply a receiver's answers in one durable transaction: that is the upload cursor. */
  applyAcks(acked: number[], rejected: { seq: number; reason: string }[]): void {
    const wall = Math.round(this.opts.clock.wall());
    const ack = this.db.prepare('UPDATE records SET status = 1, status_wall_ms = ? WHERE seq = ? AND status = 0');
    const rej = this.db.prepare('UPDATE records SET status = 2, status_wall_ms = ?, reject_reason = ? WHERE seq = ? AND status = 0');
    this.db.transaction(() => {
      for (const seq of acked) ack.run(wall, seq);
      for (const r of rejected) rej.run(wall, r.reason, r.seq);
    })();
  }

  /**
   * Proves the store takes writes again: one metadata row, written like a record. A supervisor's
   * reset of the store lock is refused while this throws (the cause is not fixed).
   */
  probeWrite(): void {
    this.refuseIfFull();
    this.db.transaction(() => setMeta(this.db, 'write_probe_at', new Date(this.opts.clock.wall()).toISOString()))();
  }

  counts(): StoreCounts {
    return recordCounts(this.db);
  }

  /** Delete acknowledged records older than the retention period; remembers the last pruned hash so the chain still verifies. */
  prune(): number {
    const cutoff = Math.round(this.opts.clock.wall()) - this.config.retentionDays * 86_400_000;
    // Prune only a prefix of the chain (everything before the first record that must stay).
    // Acknowledged and settled records may go; waiting and rejected ones (not uploaded) stay.
    const keep = this.db.prepare(`SELECT MIN(seq) AS seq FROM records WHERE status NOT IN (${RECORD_STATUS.acked}, ${RECORD_STATUS.settled}) OR wall_ms >= ?`).get(cutoff) as { seq: number | null };
    const last = this.db.prepare('SELECT MAX(seq) AS seq FROM records').get() as { seq: number | null };
    const through = keep.seq === null ? last.seq : keep.seq - 1;
    if (through === null) return 0;
    const lastPruned = this.db.prepare('SELECT seq, hash FROM records WHERE seq <= ? ORDER BY seq DESC LIMIT 1').get(through) as { seq: number; hash: string } | undefined;
    if (!lastPruned || (last.seq !== null && lastPruned.seq === last.seq)) return 0; // keep the newest record: it anchors the next seq
    return this.db.transaction(() => {
      setMeta(this.db, 'pruned_through_seq', String(lastPruned.seq));
      setMeta(this.db, 'pruned_through_hash', lastPruned.hash);
      return this.db.prepare('DELETE FROM records WHERE seq <= ?').run(lastPruned.seq).changes;
    })();
  }

  close(): void {
    if (this.owned && this.db.open) this.db.close();
  }
}

/**
 * The store's counts for /status, /metrics and the remote status command, without reading the
 * table: a full scan took 84 ms at 15,000 records (63 MB) on the posts' event loop, on every
 * /status. The chain is contiguous (append-only; pruning removes a prefix; `records verify`
 * reports any gap), so the total is the seq range; waiting, rejected and settled come from their
 * partial indexes (O(those rows)), acknowledged is the rest.
 */
export function recordCounts(db: Db): StoreCounts {
  return chainCounts(db, 'records', true);
}

/** Counts of one chain table (records or events) from its seq range and its partial status indexes (events have no settled state). */
export function chainCounts(db: Db, table: 'records' | 'events', withSettled: boolean): StoreCounts {
  const r = db
    .prepare(
      `SELECT (SELECT MIN(seq) FROM ${table}) AS firstSeq, (SELECT MAX(seq) FROM ${table}) AS lastSeq,
       (SELECT COUNT(*) FROM ${table} WHERE status = ${RECORD_STATUS.pending}) AS pending,
       (SELECT COUNT(*) FROM ${table} WHERE status = ${RECORD_STATUS.rejected}) AS rejected,
       ${withSettled ? `(SELECT COUNT(*) FROM ${table} WHERE status = ${RECORD_STATUS.settled})` : '0'} AS settled`,
    )
    .get() as { pending: number; rejected: number; settled: number; firstSeq: number | null; lastSeq: number | null };
  const total = r.firstSeq === null || r.lastSeq === null ? 0 : r.lastSeq - r.firstSeq + 1;
  return {
    total,
    pending: r.pending,
    acked: total - r.pending - r.rejected - r.settled,
    rejected: r.rejected,
    ...(r.settled ? { settled: r.settled } : {}),
    firstSeq: r.firstSeq ?? undefined,
    lastSeq: r.lastSeq ?? undefined,
  };
}

/**
 * Send rejected records again (all, or the given seqs) once the cause is fixed on the
 * platform's side (e.g. it registered the station's key): they go back to waiting and the
 * uploader sends them with the next batch. Returns how many (issue 10 point 8).
 */
export function resendRejected(db: Db, wallMs: number, seqs?: number[]): number {
  const one = db.prepare(`UPDATE records SET status = ${RECORD_STATUS.pending}, status_wall_ms = ? WHERE seq = ? AND status = ${RECORD_STATUS.rejected}`);
  return db.transaction(() => {
    const list = seqs ?? (db.prepare(`SELECT seq FROM records WHERE status = ${RECORD_STATUS.rejected} ORDER BY seq`).all() as { seq: number }[]).map((r) => r.seq);
    let n = 0;
    for (const seq of list) n += one.run(wallMs, seq).changes;
    return n;
  })();
}

/**
 * A supervisor records how a rejected record was resolved with the platform (the signed record
 * never changes): it no longer counts as not uploaded. Who, how and when are kept after the
 * platform's reason. Throws for a record that is not rejected, or without who and a note.
 */
export function settleRejected(db: Db, wallMs: number, seq: number, by: string, note: string, utcOffsetMinutes?: number): void {
  if (!by.trim() || !note.trim()) throw new FillgateError('BAD_PAYLOAD', 'settling a rejected record needs who settled it and a note saying how', { seq });
  const res = db
    .prepare(`UPDATE records SET status = ${RECORD_STATUS.settled}, status_wall_ms = ?, reject_reason = coalesce(reject_reason, '') || ? WHERE seq = ? AND status = ${RECORD_STATUS.rejected}`)
    .run(wallMs, ` | settled by ${by.trim()}: ${note.trim()} (${isoWithOffset(wallMs, utcOffsetMinutes)})`, seq);
  if (res.changes === 0) throw new FillgateError('NOT_FOUND', `seq ${seq} is not a rejected record`, { seq });
}
