/**
 * Store-and-forward uploader (issue 5 §2). Records go out in seq order in
 * batches; a record is marked sent only on the receiver's application-level
 * acknowledgement (accepted or duplicate), committed to SQLite in one
 * transaction, so the cursor survives restarts and power loss. The record id
 * makes resending harmless: after a crash between the receiver's commit and
 * ours, the resend comes back as "duplicate". Failures back off exponentially
 * with jitter; no exception ends the loop (domain.md 7, ThingsBoard #2132).
 *
 * The batch adapts to the link (issue 13): bounded by count and bytes, halved
 * after a failed batch down to one record, doubled back after each success.
 * Through a link that resets a connection now and then, a big batch almost
 * never arrives whole; small ones do. Every failure is classified (stall,
 * reset, closed, refused, http_5xx, ...), counted by cause for /metrics and
 * logged with its cause, at most once per failureLogEveryMs.
 */
import { readFileSync } from 'node:fs';
import type { Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { Logger } from '../log.ts';
import { Signal } from '../../protocols/signal.ts';
import { uploadConfigSchema, type UploadConfig } from '../records/config.ts';
import { setMeta } from '../records/db.ts';
import { RecordStore } from '../records/store.ts';
import type { Db } from '../records/db.ts';
import { adapterByName, type PlatformAdapter } from './adapters/index.ts';
import { backoffDelay } from './backoff.ts';
import { checkUploadUrl, HttpPoster } from './http.ts';
import { uploadTimeliness, type Timeliness } from './timeliness.ts';

export type UploadConfigInput = Partial<Omit<UploadConfig, 'url'>> & { url: string } & Record<string, unknown>;

/**
 * What an uploader sends from, in seq order: the record store, or the station's event chain
 * (event-uploader.ts). Rows are marked sent only on the receiver's per-row answer.
 */
export interface UploadSource {
  readonly appended: { on(fn: () => void): () => void };
  /** Where the last error and success are kept (status screens, `fillgate sync status`). */
  readonly db: Db;
  pending(limit: number): { seq: number; id: string; body: string }[];
  applyAcks(acked: number[], rejected: { seq: number; reason: string }[]): void;
  /** Removes acknowledged rows past their retention; returns how many. */
  prune(): number;
}

export interface UploaderOptions {
  store: UploadSource;
  clock: Clock;
  /** Send here instead of config.url (the event chain goes to …/events). */
  url?: string;
  /** Prefix of the meta keys for the last error and success; default `sync` (records). */
  metaPrefix?: string;
  config: UploadConfigInput;
  /** Overrides config.adapter (tests, a platform adapter not in the registry). */
  adapter?: PlatformAdapter;
  random?: () => number;
  /** Failures (rate-limited) and recoveries are logged here; none by default. */
  log?: Logger;
  /**
   * Asked before each batch; a batch waits (a failed outcome, backed off) until it says ok.
   * The station's queued key handover goes first this way (records/key-rotation.ts `HandoverGate`).
   */
  before?: () => Promise<{ ok: true } | { ok: false; error: string; cause: FailureCause }>;
}

/** Why a batch failed, a small fixed set (metric label, log field). */
export type FailureCause = 'stall' | 'timeout' | 'reset' | 'closed' | 'refused' | 'dns' | 'tls' | 'http_4xx' | 'http_5xx' | 'bad_reply' | 'rejected' | 'other';

export type BatchOutcome =
  | { kind: 'idle' }
  | { kind: 'ok'; sent: number; acked: number; rejected: number; unanswered: number }
  | { kind: 'failed'; error: string; cause: FailureCause; size: number };

export class Uploader {
  readonly config: UploadConfig;
  readonly stats = { batches: 0, sent: 0, acked: 0, duplicates: 0, rejected: 0, failures: 0, pruned: 0, batchLimit: 0 };
  /** Failed batches by cause, since start (the /metrics counter). */
  readonly failuresByCause: Partial<Record<FailureCause, number>> = {};
  /** Every batch's outcome (logs, metrics, the operator screen). */
  readonly batches = new Signal<BatchOutcome>();
  private readonly adapter: PlatformAdapter;
  private readonly poster: HttpPoster;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private offAppended: (() => void) | undefined;
  private lastPrune = -Infinity;
  private lastSize = 0;
  /** Records in the next batch: halved after a failure, doubled after a success, within [1, batchSize]. */
  private batchLimit: number;
  private consecutiveFailures = 0;
  private lastFailureLog = -Infinity;
  private lastErrorText: string | undefined;
  private unloggedFailures = 0;

  constructor(private readonly opts: UploaderOptions) {
    this.config = uploadConfigSchema.parse(opts.config);
    const url = checkUploadUrl(opts.url ?? this.config.url, this.config.allowInsecure);
    this.adapter = opts.adapter ?? adapterByName(this.config.adapter);
    this.batchLimit = this.config.batchSize;
    this.stats.batchLimit = this.batchLimit;
    this.poster = new HttpPoster(url, { timeoutMs: this.config.timeoutMs, stallMs: this.config.stallMs, ca: this.config.caFile ? readFileSync(this.config.caFile) : undefined });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.offAppended = this.opts.store.appended.on(() => this.wake?.());
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.offAppended?.();
    this.wake?.();
    // Cut a request in flight rather than wait out its timeout; its records stay unsent.
    this.poster.close();
    await this.loopDone;
  }

  /** How far behind the record uploads are (only an uploader of the record store has timeliness). */
  timeliness(): Timeliness {
    const store = this.opts.store;
    if (!(store instanceof RecordStore)) throw new Error('timeliness is measured on the record store');
    return uploadTimeliness(store, this.opts.clock, this.config.timeliness);
  }

  /** The last failed batch's error, until a batch succeeds. */
  get lastError(): string | undefined {
    return this.lastErrorText;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const outcome = await this.uploadOnce();
      if (!this.running) break;
      if (outcome.kind === 'failed') {
        await this.pause(backoffDelay(this.consecutiveFailures, this.config.backoff, this.opts.random), false);
      } else {
        if (outcome.kind === 'idle') await this.pause(this.config.idleMs, true);
        this.maybePrune();
      }
    }
  }

  /** Sleep; an append ends an idle wait early, never a backoff (that would hammer a platform that is down). */
  private pause(ms: number, wakeOnAppend: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        if (wakeOnAppend || !this.running) done();
      };
    });
  }

  /** Send one batch of the oldest unacknowledged records. Never throws. */
  async uploadOnce(): Promise<BatchOutcome> {
    let outcome: BatchOutcome;
    try {
      outcome = await this.sendBatch();
    } catch (err) {
      outcome = { kind: 'failed', error: errorMessage(err), cause: causeOf(err), size: this.lastSize };
    }
    this.note(outcome);
    return outcome;
  }

  private async sendBatch(): Promise<BatchOutcome> {
    const store = this.opts.store;
    const rows = withinBytes(store.pending(this.batchLimit), this.config.batchBytes);
    if (rows.length === 0) return { kind: 'idle' };
    this.lastSize = rows.length;
    const gate = await this.opts.before?.();
    if (gate && !gate.ok) return { kind: 'failed', error: gate.error, cause: gate.cause, size: rows.length };
    const { contentType, body } = this.adapter.encodeBatch(rows.map((r) => ({ seq: r.seq, id: r.id, json: r.body })));
    this.stats.batches++;
    this.stats.sent += rows.length;
    const reply = await this.poster.post(contentType, body);
    const ack = this.adapter.decodeAck(reply.status, reply.text);
    if (!ack.ok) return { kind: 'failed', error: ack.error, cause: httpCause(reply.status), size: rows.length };
    const byId = new Map(ack.results.map((r) => [r.id, r]));
    const acked: number[] = [];
    const rejected: { seq: number; reason: string }[] = [];
    for (const row of rows) {
      const r = byId.get(row.id);
      if (r?.status === 'accepted' || r?.status === 'duplicate') {
        acked.push(row.seq);
        if (r.status === 'duplicate') this.stats.duplicates++;
      } else if (r?.status === 'rejected' && !r.retryable) rejected.push({ seq: row.seq, reason: r.reason ?? 'rejected' });
    }
    store.applyAcks(acked, rejected);
    this.stats.acked += acked.length;
    this.stats.rejected += rejected.length;
    const unanswered = rows.length - acked.length - rejected.length;
    if (acked.length + rejected.length === 0) return { kind: 'failed', error: firstReason(ack.results) ?? 'the receiver acknowledged none of the batch', cause: 'rejected', size: rows.length };
    return { kind: 'ok', sent: rows.length, acked: acked.length, rejected: rejected.length, unanswered };
  }

  private note(outcome: BatchOutcome): void {
    const db = this.opts.store.db;
    const wall = String(Math.round(this.opts.clock.wall()));
    const meta = this.opts.metaPrefix ?? 'sync';
    this.adapt(outcome);
    if (outcome.kind === 'failed') this.lastErrorText = outcome.error;
    else if (outcome.kind === 'ok') this.lastErrorText = undefined;
    try {
      if (outcome.kind === 'failed') {
        setMeta(db, `${meta}_last_error`, outcome.error);
        setMeta(db, `${meta}_last_error_wall_ms`, wall);
      } else if (outcome.kind === 'ok') setMeta(db, `${meta}_last_success_wall_ms`, wall);
    } catch {
      // status bookkeeping only: a failure here must not stop uploads
    }
    this.batches.emit(outcome);
  }

  /** Batch size and failure bookkeeping: halve on failure, double on success; log failures rate-limited. */
  private adapt(outcome: BatchOutcome): void {
    if (outcome.kind === 'failed') {
      this.stats.failures++;
      this.consecutiveFailures++;
      this.failuresByCause[outcome.cause] = (this.failuresByCause[outcome.cause] ?? 0) + 1;
      this.batchLimit = Math.max(1, Math.floor(Math.min(this.batchLimit, outcome.size || this.batchLimit) / 2));
      this.logFailure(outcome);
    } else if (outcome.kind === 'ok') {
      if (this.consecutiveFailures > 0) {
        this.opts.log?.info({ failures: this.consecutiveFailures, batch: outcome.sent }, 'uploads resumed');
        this.consecutiveFailures = 0;
      }
      this.batchLimit = Math.min(this.config.batchSize, this.batchLimit * 2);
    } else this.consecutiveFailures = 0; // idle: nothing left to fail on, the next backoff starts afresh
    this.stats.batchLimit = this.batchLimit;
  }

  private logFailure(outcome: Extract<BatchOutcome, { kind: 'failed' }>): void {
    const log = this.opts.log;
    if (!log) return;
    const now = this.opts.clock.now();
    if (now - this.lastFailureLog < this.config.failureLogEveryMs) {
      this.unloggedFailures++;
      return;
    }
    this.lastFailureLog = now;
    const suppressed = this.unloggedFailures;
    this.unloggedFailures = 0;
    log.warn({ cause: outcome.cause, error: outcome.error.slice(0, 300), records: outcome.size, consecutive: this.consecutiveFailures, nextBatch: this.batchLimit, suppressed }, `upload failed (${outcome.cause}): ${outcome.error.slice(0, 120)}`);
  }

  private maybePrune(): void {
    const now = this.opts.clock.now();
    if (now - this.lastPrune < this.config.pruneEveryMs) return;
    this.lastPrune = now;
    try {
      this.stats.pruned += this.opts.store.prune();
    } catch {
      // pruning is housekeeping: retried at the next interval
    }
  }
}

function firstReason(results: { status: string; reason?: string }[]): string | undefined {
  return results.find((r) => r.status === 'rejected')?.reason;
}

/** The longest prefix of rows within maxBytes (one NDJSON line each); never empty when rows is not. */
function withinBytes<T extends { body: string }>(rows: T[], maxBytes: number): T[] {
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    bytes += Buffer.byteLength(rows[i].body) + 1;
    if (bytes > maxBytes && i > 0) return rows.slice(0, i);
  }
  return rows;
}

export function httpCause(status: number): FailureCause {
  if (status >= 500) return 'http_5xx';
  if (status >= 400) return 'http_4xx';
  return 'bad_reply';
}

/** A thrown error's cause: our TIMEOUT (stalled or whole-request), or Node's socket/TLS error codes. */
export function causeOf(err: unknown): FailureCause {
  const e = err as { code?: unknown; message?: unknown; context?: { stalled?: boolean } };
  const code = typeof e?.code === 'string' ? e.code : '';
  const msg = typeof e?.message === 'string' ? e.message : '';
  if (code === 'TIMEOUT') return e.context?.stalled ? 'stall' : 'timeout';
  if (code === 'ECONNRESET' && /hang up/i.test(msg)) return 'closed';
  if (code === 'ECONNRESET') return 'reset';
  if (code === 'EPIPE' || code === 'LINK_CLOSED' || code === 'ECONNABORTED') return 'closed';
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (/CERT|SSL|TLS|SELF_SIGNED/i.test(code) || /certificate/i.test(msg)) return 'tls';
  if (code === 'ETIMEDOUT') return 'timeout';
  return 'other';
}
