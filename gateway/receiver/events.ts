/**
 * The receiver's side of the station event chain (issue 10 point 6): each
 * event is verified against the station's registered key and its own hash
 * chain, stored exactly once (primary key (station, seq), unique (station, id)),
 * duplicates answered as such, forged or altered events rejected with a
 * reason, gaps reported. The same rules as fill records (store.ts), in their
 * own table, so the record path is untouched. Events are few (a handful per
 * hour), so they are verified on the main thread.
 *   POST /v1/events                    NDJSON or {events:[...]} → {results:[{id,seq,status,reason?,message?,gap?}]}
 *   GET  /v1/stations/:code/events     {report, events} (?from=&to= ISO 8601, ?kind=)
 */
import type { KeyObject } from 'node:crypto';
import type Database from 'better-sqlite3';
import { sha256Hex } from '../records/canonical.ts';
import { eventShapeError, eventSignedBytes, type StationEventV1 } from '../records/event.ts';
import { toPublicKey } from '../records/keys.ts';
import { recordShapeError, verifyBytes, withoutSig } from '../records/record.ts';
import type { RecordResult } from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS received_events (
  station TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  kind TEXT NOT NULL, recorded_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (station, seq), UNIQUE (station, id)
);
CREATE INDEX IF NOT EXISTS received_events_time ON received_events(station, recorded_ms);
CREATE TABLE IF NOT EXISTS event_rejections (station TEXT, id TEXT, seq INTEGER, reason TEXT NOT NULL, message TEXT NOT NULL, at_ms INTEGER NOT NULL);
`;

export interface EventReport {
  station: string;
  accepted: number;
  firstSeq?: number;
  lastSeq?: number;
  lastEventAt?: string;
  gaps: { from: number; to: number }[];
  missing: number;
  rejected: number;
  byKind: Record<string, number>;
}

export class ReceiverEvents {
  private keys = new Map<string, KeyObject>();
  constructor(private readonly db: Database.Database, private readonly now: () => number = Date.now) {
    db.exec(SCHEMA);
  }

  private keyOf(station: string): KeyObject | undefined {
    const row = this.db.prepare('SELECT public_key FROM stations WHERE code = ?').get(station) as { public_key: string } | undefined;
    if (!row) return undefined;
    let k = this.keys.get(row.public_key);
    if (!k) this.keys.set(row.public_key, (k = toPublicKey(row.public_key)));
    return k;
  }

  ingest(events: unknown[]): RecordResult[] {
    return this.ingestLines(events.map((e) => JSON.stringify(e) ?? 'null'));
  }

  /** One transaction for the batch: the answer is sent only after the accepted events are committed. */
  ingestLines(lines: string[]): RecordResult[] {
    return this.db.transaction(() => lines.map((l) => this.one(l)))();
  }

  private one(line: string): RecordResult {
    let ev: StationEventV1;
    try {
      ev = JSON.parse(line) as StationEventV1;
    } catch {
      return this.reject(undefined, { id: '', status: 'rejected', reason: 'BAD_FORMAT', message: 'event is not JSON' });
    }
    const id = typeof ev?.id === 'string' ? ev.id : '';
    const shape = recordShapeError(ev) ?? eventShapeError(ev);
    if (shape) return this.reject(ev?.station, { id, status: 'rejected', reason: 'BAD_FORMAT', message: shape });
    const base = { id, seq: ev.seq };
    const key = this.keyOf(ev.station);
    if (!key) return { ...base, status: 'rejected', reason: 'UNKNOWN_STATION', retryable: true, message: `station ${ev.station} has no registered key` };
    let bytes = withoutSig(line, ev.sig);
    let sigOk = bytes !== undefined && verifyBytes(bytes, ev.sig, key);
    if (!sigOk) {
      try {
        bytes = eventSignedBytes(ev);
      } catch (err) {
        return this.reject(ev.station, { ...base, status: 'rejected', reason: 'BAD_FORMAT', message: (err as Error).message });
      }
      sigOk = verifyBytes(bytes, ev.sig, key);
    }
    const hash = sha256Hex(bytes!);
    const same = this.db.prepare('SELECT seq, hash FROM received_events WHERE station = ? AND id = ?').get(ev.station, id) as { seq: number; hash: string } | undefined;
    if (same) {
      if (same.hash === hash && same.seq === ev.seq) return { ...base, status: 'duplicate' };
      return this.reject(ev.station, { ...base, status: 'rejected', reason: 'CONFLICT', message: `event id ${id} was already accepted (seq ${same.seq}) with different content` });
    }
    if (!sigOk) return this.reject(ev.station, { ...base, status: 'rejected', reason: 'BAD_SIGNATURE', message: `signature does not verify with the registered key of station ${ev.station}: event forged or altered` });
    const at = this.db.prepare('SELECT id FROM received_events WHERE station = ? AND seq = ?').get(ev.station, ev.seq) as { id: string } | undefined;
    if (at) return this.reject(ev.station, { ...base, status: 'rejected', reason: 'CONFLICT', message: `event seq ${ev.seq} already holds event ${at.id}: a second event chain for station ${ev.station}` });
    const before = this.db.prepare('SELECT seq, hash FROM received_events WHERE station = ? AND seq < ? ORDER BY seq DESC LIMIT 1').get(ev.station, ev.seq) as { seq: number; hash: string } | undefined;
    const after = this.db.prepare('SELECT prev_hash FROM received_events WHERE station = ? AND seq = ?').get(ev.station, ev.seq + 1) as { prev_hash: string } | undefined;
    if (before && before.seq === ev.seq - 1 && before.hash !== ev.prevHash)
      return this.reject(ev.station, { ...base, status: 'rejected', reason: 'BROKEN_CHAIN', message: `prevHash does not match accepted event seq ${before.seq}: the station's event chain was altered or forked` });
    if (!before && ev.seq === 1 && !/^0{64}$/.test(ev.prevHash)) return this.reject(ev.station, { ...base, status: 'rejected', reason: 'BROKEN_CHAIN', message: 'event seq 1 must carry the genesis prevHash (64 zeros)' });
    if (after && after.prev_hash !== hash) return this.reject(ev.station, { ...base, status: 'rejected', reason: 'BROKEN_CHAIN', message: `accepted event seq ${ev.seq + 1} does not link to this event: it is not the original seq ${ev.seq}` });
    const lastSeq = before?.seq ?? 0;
    this.db
      .prepare('INSERT INTO received_events (station, seq, id, hash, prev_hash, kind, recorded_ms, received_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(ev.station, ev.seq, id, hash, ev.prevHash, ev.kind, Date.parse(ev.recordedAt), this.now(), line);
    return { ...base, status: 'accepted', ...(ev.seq > lastSeq + 1 ? { gap: { from: lastSeq + 1, to: ev.seq - 1 } } : {}) };
  }

  private reject(station: string | undefined, r: RecordResult): RecordResult {
    this.db.prepare('INSERT INTO event_rejections (station, id, seq, reason, message, at_ms) VALUES (?, ?, ?, ?, ?, ?)').run(station ?? null, r.id, r.seq ?? null, r.reason ?? '', r.message ?? '', this.now());
    return r;
  }

  report(station: string): EventReport {
    const s = this.db.prepare('SELECT COUNT(*) AS n, MIN(seq) AS first, MAX(seq) AS last FROM received_events WHERE station = ?').get(station) as { n: number; first: number | null; last: number | null };
    const lastRow = s.last === null ? undefined : (this.db.prepare('SELECT body FROM received_events WHERE station = ? AND seq = ?').get(station, s.last) as { body: string });
    const gaps = this.db
      .prepare('SELECT prev + 1 AS "from", seq - 1 AS "to" FROM (SELECT seq, LAG(seq, 1, 0) OVER (ORDER BY seq) AS prev FROM received_events WHERE station = ?) WHERE seq > prev + 1')
      .all(station) as { from: number; to: number }[];
    const rejected = (this.db.prepare('SELECT COUNT(*) AS n FROM event_rejections WHERE station = ?').get(station) as { n: number }).n;
    const byKind = Object.fromEntries((this.db.prepare('SELECT kind, COUNT(*) AS n FROM received_events WHERE station = ? GROUP BY kind ORDER BY kind').all(station) as { kind: string; n: number }[]).map((r) => [r.kind, r.n]));
    return {
      station,
      accepted: s.n,
      firstSeq: s.first ?? undefined,
      lastSeq: s.last ?? undefined,
      lastEventAt: lastRow ? (JSON.parse(lastRow.body) as StationEventV1).recordedAt : undefined,
      gaps,
      missing: gaps.reduce((n, g) => n + g.to - g.from + 1, 0),
      rejected,
      byKind,
    };
  }

  /** Accepted events of one station in seq order, made in [fromMs, toMs), optionally of one kind. */
  events(station: string, fromMs = -8.64e15, toMs = 8.64e15, kind?: string): StationEventV1[] {
    const rows = this.db
      .prepare('SELECT body FROM received_events WHERE station = ? AND recorded_ms >= ? AND recorded_ms < ? AND (? IS NULL OR kind = ?) ORDER BY seq')
      .all(station, fromMs, toMs, kind ?? null, kind ?? null) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as StationEventV1);
  }
}
