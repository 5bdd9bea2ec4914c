/**
 * The regulator's side (issue 5 §3, issue 11): verify each record against the station's
 * registered key and hash chain, store accepted records exactly once, and say per record
 * accepted | duplicate | rejected(reason). A seq gap means records were removed at the
 * station: it is reported, and what verifies is still stored.
 *
 * `ReceiverStore` is the one interface the HTTP server, the CLI and the tests use; two
 * implementations hold the same tables, keys and semantics:
 *   - `SqliteReceiverStore` (sqlite-store.ts): one file, the embedded default (`--db rx.db`);
 *   - `PgReceiverStore` (pg-store.ts): PostgreSQL through a `pg` pool (`--db postgres://…`),
 *     for any number of stateless receiver nodes on one database.
 * `openReceiverStore` picks one by the URL. The shared work lives here (`BaseReceiverStore`):
 * the verify workers, the station key cache (a hint, reloaded from the database when a
 * record does not verify or names an unknown station, and every `keysMaxAgeMs`), the
 * revocation check; the verdicts are `chain.ts`'s pure `decide`, run inside each store's
 * transaction over the rows it loaded (on PostgreSQL with the station locked), so two nodes
 * that get the same station's batches at once still keep one copy and a verified chain.
 *
 * Tables (both stores; the inspector's reports query these names):
 *   stations(code, public_key, registered_ms)                         current key per station
 *   station_keys(station, fp, public_key, added_ms, revoked_after_ms, via)
 *   received(station, seq, id, hash, prev_hash, recorded_ms, received_ms, lag_ms, body)
 *       PK (station, seq), UNIQUE (station, id); index (station, recorded_ms)
 *       (PostgreSQL: partitioned by month of recorded_ms; the keys live in received_index)
 *       For the reports, the cylinder code and outcome: SQLite keeps them as columns
 *       `cylinder`, `outcome` (indexed); PostgreSQL indexes the expressions on the body.
 *   rejections(station, id, seq, reason, message, at_ms)
 *   received_events(station, seq, id, hash, prev_hash, kind, recorded_ms, received_ms, body); index (kind, recorded_ms)
 *   event_rejections(station, id, seq, reason, message, at_ms)
 *   schema_migrations(version, name, applied_ms)
 */
import type { FillRecordV1 } from '../records/record.ts';
import type { StationEventV1 } from '../records/event.ts';
import { toPublicKey } from '../records/keys.ts';
import { admit, decide, EVENT_NOUNS, RECORD_NOUNS, type Candidate, type ChainRow, type ChainView } from './chain.ts';
import { prepareEventLine, type EventReport } from './events.ts';
import { handoverError, keyFingerprint, normalPem, revokedMessage, type KeyHandover, type KeyInfo } from './keys.ts';
import { PreparePool } from './prepare-pool.ts';
import type { Prepared } from './prepare.ts';
import type { ReportSource } from './reports.ts';

export type RejectReason = 'BAD_FORMAT' | 'UNKNOWN_STATION' | 'BAD_SIGNATURE' | 'CONFLICT' | 'BROKEN_CHAIN' | 'KEY_REVOKED';

export interface RecordResult {
  id: string;
  seq?: number;
  status: 'accepted' | 'duplicate' | 'rejected';
  reason?: RejectReason;
  message?: string;
  /** Send again later (the station is not registered yet, the database is away): not a verdict on the record. */
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

/** One station's row of the grouped overview query (both stores), made into its report exactly as `report()` makes it. */
export interface OverviewRow {
  code: string;
  n: number | null;
  first: number | null;
  last: number | null;
  late: number | null;
  maxlag: number | null;
  lastrx: number | null;
  lastat: string | null;
  /** JSON array of {from, to}, or null without gaps. */
  gaps: string | null;
  rejected: number | null;
}

export function overviewReport(r: OverviewRow): StationReport {
  const gaps = r.gaps === null ? [] : (JSON.parse(r.gaps) as { from: number; to: number }[]).sort((a, b) => a.from - b.from);
  return {
    station: r.code,
    accepted: r.n ?? 0,
    firstSeq: r.first ?? undefined,
    lastSeq: r.last ?? undefined,
    lastRecordAt: r.lastat ?? undefined,
    lastReceivedAt: r.lastrx === null ? undefined : new Date(r.lastrx).toISOString(),
    gaps,
    missing: gaps.reduce((n, g) => n + g.to - g.from + 1, 0),
    late: r.late ?? 0,
    maxLagMs: r.maxlag ?? 0,
    rejected: r.rejected ?? 0,
  };
}

/** What `fillgate receiver doctor` prints: every problem as a line in `problems`. */
export interface DoctorReport {
  store: 'sqlite' | 'postgres';
  schemaVersion: number;
  codeSchemaVersion: number;
  server?: string;
  connections?: { total: number; receivers: number; max: number };
  /** Replication lag of each standby (PostgreSQL), seconds. */
  replicationLagS?: Record<string, number>;
  /** Ingest lag: the oldest "last upload" among stations, and stations silent for more than a day. */
  lastReceivedAgeS?: number;
  silentStations: string[];
  partitions?: { months: number; first?: string; last?: string; defaultRows: number };
  stations: number;
  records: number;
  problems: string[];
}

export interface ReceiverStoreOptions {
  /** A file path or `:memory:` (SQLite), or `postgres://…` / `postgresql://…`. */
  dbPath: string;
  stations?: Record<string, string>;
  /** An upload later than this after the record was made counts as late (default 1 h, the station's warn age). */
  lateAfterMs?: number;
  verifyThreads?: number;
  now?: () => number;
  /** PostgreSQL pool size per node (default 10). */
  poolSize?: number;
  /** How long a node trusts its cached station keys (default 10 s): revocations made through another node reach it within this. */
  keysMaxAgeMs?: number;
  /** PostgreSQL: drop monthly partitions older than this many months (at least 24; default: keep everything). */
  retainMonths?: number;
}

/** The one interface of both stores. Every method may be called from any node at any time. */
export interface ReceiverStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Resolves once the verify workers are loaded and the schema is migrated. */
  ready(): Promise<void>;
  /** Fill records as JSON texts, one per record (the uploader's NDJSON body), stored byte for byte. */
  ingestLines(lines: string[]): Promise<RecordResult[]>;
  /** Records as parsed JSON values (tests, other clients). */
  ingest(records: unknown[]): Promise<RecordResult[]>;
  /** Station events as JSON texts (events.ts). */
  ingestEvents(lines: string[]): Promise<RecordResult[]>;
  /** Register (or re-key by an administrator) a station; the old key stays for its records unless revoked. */
  registerStation(code: string, publicKey: string, via?: KeyInfo['via']): Promise<void>;
  /** Rotate a station's key by a handover the current key signed (keys.ts); throws with the reason if it does not verify. */
  handover(h: KeyHandover): Promise<KeyInfo>;
  /** Revoke a station key (default: the current one): its records made after `afterMs` are refused. */
  revokeKey(code: string, afterMs: number, fp?: string): Promise<KeyInfo>;
  stationKeys(code: string): Promise<KeyInfo[]>;
  stationCodes(): Promise<string[]>;
  report(station: string): Promise<StationReport>;
  /** Every station's report (the inspector's overview, `/v1/stations`), in code order: one grouped query, not one per station. */
  stationReports(): Promise<StationReport[]>;
  /** Accepted records of one station, in seq order, made in [fromMs, toMs). */
  records(station: string, fromMs?: number, toMs?: number): Promise<FillRecordV1[]>;
  eventReport(station: string): Promise<EventReport>;
  events(station: string, fromMs?: number, toMs?: number, kind?: string): Promise<StationEventV1[]>;
  /** Readiness: one round trip to the database; throws when it cannot serve. */
  check(): Promise<void>;
  doctor(): Promise<DoctorReport>;
  /** What the inspector's reports read (reports.ts): the same queries on both stores. */
  reportSource(): ReportSource;
  close(): Promise<void>;
}

/** A prepared record or event, as the stores' commit takes it. */
export type Item =
  | { ok: true; cand: Omit<Candidate, 'revoked'>; body: string; keyFp?: string; kind?: string; cylinder?: string; outcome?: string }
  | { ok: false; station?: string; result: RecordResult };

export type Chain = 'records' | 'events';

/** What `judge` decided for one station's items. */
export interface Judged {
  verdicts: { index: number; result: RecordResult }[];
  inserts: { item: Item & { ok: true }; index: number }[];
  rejections: { station?: string; result: RecordResult }[];
}

const MIN_MS = -8.64e15;
const MAX_MS = 8.64e15;
export const ALL_TIME = { from: MIN_MS, to: MAX_MS };

const safeFp = (pem: string): string | undefined => {
  try {
    return keyFingerprint(pem);
  } catch {
    return undefined;
  }
};

/** Open the store the URL names: PostgreSQL for postgres:// URLs, SQLite otherwise. */
export async function openReceiverStore(opts: ReceiverStoreOptions): Promise<ReceiverStore> {
  const store = /^postgres(ql)?:\/\//.test(opts.dbPath)
    ? new (await import('./pg-store.ts')).PgReceiverStore(opts)
    : new (await import('./sqlite-store.ts')).SqliteReceiverStore(opts);
  try {
    await store.ready();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

/** What both stores share: verification, the key cache and revocation, the ingest orchestration. */
export abstract class BaseReceiverStore implements ReceiverStore {
  abstract readonly kind: 'sqlite' | 'postgres';
  protected readonly pool: PreparePool;
  protected readonly lateAfterMs: number;
  protected readonly now: () => number;
  private keyInfo = new Map<string, KeyInfo[]>();
  private keysLoadedAt = -Infinity;
  private readonly keysMaxAgeMs: number;
  private started?: Promise<void>;

  constructor(protected readonly opts: ReceiverStoreOptions) {
    this.lateAfterMs = opts.lateAfterMs ?? 3_600_000;
    this.now = opts.now ?? Date.now;
    this.keysMaxAgeMs = opts.keysMaxAgeMs ?? 10_000;
    this.pool = new PreparePool(opts.verifyThreads ?? 0);
  }

  /** Migrate the schema (refusing one newer than the code). */
  protected abstract migrate(): Promise<void>;
  /** Every station key (or those of `stations`), current key first per station. */
  protected abstract loadKeys(stations?: string[]): Promise<KeyInfo[]>;
  protected abstract saveKey(k: KeyInfo, current: boolean): Promise<void>;
  protected abstract setRevoked(station: string, fp: string, afterMs: number | null): Promise<void>;
  /** One transaction: load the rows around the items, decide (chain.ts), insert the accepted, log the rejections. */
  protected abstract commit(chain: Chain, items: Item[]): Promise<RecordResult[]>;
  abstract stationCodes(): Promise<string[]>;
  abstract report(station: string): Promise<StationReport>;
  abstract stationReports(): Promise<StationReport[]>;
  abstract records(station: string, fromMs?: number, toMs?: number): Promise<FillRecordV1[]>;
  abstract eventReport(station: string): Promise<EventReport>;
  abstract events(station: string, fromMs?: number, toMs?: number, kind?: string): Promise<StationEventV1[]>;
  abstract check(): Promise<void>;
  abstract doctor(): Promise<DoctorReport>;
  abstract reportSource(): ReportSource;
  protected abstract closeDb(): Promise<void>;

  ready(): Promise<void> {
    this.started ??= (async () => {
      await this.migrate();
      for (const [code, key] of Object.entries(this.opts.stations ?? {})) await this.registerStation(code, key, 'config');
      await this.refreshKeys();
      await this.pool.ready;
    })();
    return this.started;
  }

  /** Reload station keys from the database (all, or some stations) into the cache and the workers. */
  protected async refreshKeys(stations?: string[]): Promise<boolean> {
    const rows = await this.loadKeys(stations);
    const next = new Map<string, KeyInfo[]>();
    for (const s of stations ?? []) next.set(s, []);
    for (const k of rows) {
      const list = next.get(k.station) ?? [];
      list.push(k);
      next.set(k.station, list);
    }
    let changed = false;
    const forPool: Record<string, { fp: string; pem: string }[]> = {};
    for (const [s, list] of next) {
      const before = this.keyInfo.get(s) ?? [];
      const sig = (l: KeyInfo[]) => l.map((k) => `${k.fp}:${k.revokedAfterMs ?? ''}`).join(',');
      if (sig(before) === sig(list)) continue;
      changed = true;
      this.keyInfo.set(s, list);
      forPool[s] = list.map((k) => ({ fp: k.fp, pem: k.pem }));
    }
    // Only what changed goes to the workers (thousands of stations, reloaded every keysMaxAgeMs).
    if (changed) this.pool.setKeys(forPool);
    if (!stations) this.keysLoadedAt = this.now();
    return changed;
  }

  private keyOf(station: string, fp: string | undefined): KeyInfo | undefined {
    return fp === undefined ? undefined : this.keyInfo.get(station)?.find((k) => k.fp === fp);
  }

  ingest(records: unknown[]): Promise<RecordResult[]> {
    return this.ingestLines(records.map((r) => JSON.stringify(r) ?? 'null'));
  }

  /**
   * Each chunk is committed as soon as it is verified, in order; the caller answers only
   * after all are committed. A crash in between loses nothing: unanswered records are
   * resent and the committed ones come back "duplicate".
   */
  async ingestLines(lines: string[]): Promise<RecordResult[]> {
    await this.ready();
    if (this.now() - this.keysLoadedAt > this.keysMaxAgeMs) await this.refreshKeys();
    const results: RecordResult[] = [];
    let offset = 0;
    for (const chunk of this.pool.prepareChunks(lines)) {
      let prepared = await chunk;
      const n = prepared.length;
      prepared = await this.retryWithFreshKeys(lines.slice(offset, offset + n), prepared);
      offset += n;
      results.push(...(await this.commit('records', prepared.map((p) => this.toItem(p)))));
    }
    return results;
  }

  /** A station unknown here, or a record that does not verify, may mean a key registered through another node: reload and verify again. */
  private async retryWithFreshKeys(lines: string[], prepared: Prepared[]): Promise<Prepared[]> {
    const doubt = new Set<string>();
    for (const p of prepared) if ((!p.ok && p.reason === 'UNKNOWN_STATION') || (p.ok && !p.sigOk)) doubt.add(p.station!);
    if (doubt.size === 0 || !(await this.refreshKeys([...doubt]))) return prepared;
    const again = await this.pool.prepareAll(lines);
    return again;
  }

  private toItem(p: Prepared): Item {
    if (!p.ok) return { ok: false, station: p.station, result: { id: p.id, seq: p.seq, status: 'rejected', reason: p.reason, message: p.message, retryable: p.retryable } };
    return { ok: true, keyFp: p.keyFp, body: p.body, cylinder: p.cylinder, outcome: p.outcome, cand: { station: p.station, seq: p.seq, id: p.id, hash: p.hash, prevHash: p.prevHash, recordedMs: p.recordedMs, sigOk: p.sigOk } };
  }

  /** The revocation message of an item, if the key that verified it was revoked before the item was made. */
  protected revoked(item: Item & { ok: true }, noun: string): string | undefined {
    return revokedMessage(this.keyOf(item.cand.station, item.keyFp), item.cand.recordedMs, noun);
  }

  /**
   * The verdicts on one station's items (in batch order) against the rows loaded around
   * them: what to insert and what to log as rejected. Pure apart from the key cache.
   */
  protected judge(chain: Chain, group: { item: Item; index: number }[], view: ChainView): Judged {
    const nouns = chain === 'records' ? RECORD_NOUNS : EVENT_NOUNS;
    const out: Judged = { verdicts: [], inserts: [], rejections: [] };
    const accepted: ChainRow[] = [];
    for (const { item, index } of group) {
      let r: RecordResult;
      if (!item.ok) r = item.result;
      else {
        r = decide({ ...item.cand, revoked: this.revoked(item, nouns.item) }, view, nouns, accepted);
        if (r.status === 'accepted') {
          admit(item.cand, view, accepted);
          out.inserts.push({ item, index });
        }
      }
      if (r.status === 'rejected' && !r.retryable) out.rejections.push({ station: item.ok ? item.cand.station : item.station, result: r });
      out.verdicts.push({ index, result: r });
    }
    return out;
  }

  async ingestEvents(lines: string[]): Promise<RecordResult[]> {
    await this.ready();
    if (this.now() - this.keysLoadedAt > this.keysMaxAgeMs) await this.refreshKeys();
    const keysOf = (s: string) => this.keyInfo.get(s)?.map((k) => ({ fp: k.fp, key: toPublicKey(k.pem) }));
    let items = lines.map((l) => prepareEventLine(l, keysOf));
    const doubt = new Set<string>();
    for (const it of items) if ((!it.ok && it.result.reason === 'UNKNOWN_STATION') || (it.ok && !it.cand.sigOk)) doubt.add(it.ok ? it.cand.station : it.station!);
    if (doubt.size > 0 && (await this.refreshKeys([...doubt]))) items = lines.map((l) => prepareEventLine(l, keysOf));
    return this.commit('events', items);
  }

  async registerStation(code: string, publicKey: string, via: KeyInfo['via'] = 'register'): Promise<void> {
    const pem = normalPem(publicKey);
    const fp = keyFingerprint(pem);
    await this.saveKey({ station: code, fp, pem, addedMs: this.now(), via }, true);
    await this.refreshKeys([code]);
  }

  async handover(h: KeyHandover): Promise<KeyInfo> {
    const station = typeof h?.station === 'string' ? h.station : '';
    await this.refreshKeys([station]);
    const current = this.keyInfo.get(station)?.[0];
    // The same handover again (the station's answer was lost on the way, it sends it again): already done.
    const again = this.keyInfo.get(station)?.find((k) => k.via === 'handover' && k === current && typeof h?.newPublicKey === 'string' && safeFp(h.newPublicKey) === k.fp);
    if (again && this.keyInfo.get(station)!.some((k) => k !== again && handoverError(h, k) === undefined)) return again;
    const err = handoverError(h, current);
    if (err) throw new Error(err);
    const atMs = Date.parse(h.at);
    const pem = normalPem(h.newPublicKey);
    const next: KeyInfo = { station, fp: keyFingerprint(pem), pem, addedMs: this.now(), via: 'handover' };
    if (next.fp === current!.fp) throw new Error('the new key is the current key');
    await this.saveKey(next, true);
    await this.setRevoked(station, current!.fp, atMs);
    await this.refreshKeys([station]);
    return next;
  }

  async revokeKey(code: string, afterMs: number, fp?: string): Promise<KeyInfo> {
    await this.refreshKeys([code]);
    const k = fp ? this.keyInfo.get(code)?.find((x) => x.fp === fp) : this.keyInfo.get(code)?.[0];
    if (!k) throw new Error(`station ${code} has no key ${fp ?? ''}`.trim());
    await this.setRevoked(code, k.fp, afterMs);
    await this.refreshKeys([code]);
    return { ...k, revokedAfterMs: afterMs };
  }

  async stationKeys(code: string): Promise<KeyInfo[]> {
    return this.loadKeys([code]);
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.closeDb();
  }
}
