/**
 * Store-and-forward uploader (issue 5 §2). Records go out in seq order in
 * batches; a record is marked sent only on the receiver's application-level
 * acknowledgement (accepted or duplicate), committed to SQLite in one
 * transaction, so the cursor survives restarts and power loss. The record id
 * makes resending harmless: after a crash between the receiver's commit and
 * ours, the resend comes back as "duplicate". Failures back off exponentially
 * with jitter; no exception ends the loop (domain.md 7, ThingsBoard #2132).
 */
import { readFileSync } from 'node:fs';
import type { Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { Signal } from '../../protocols/signal.ts';
import { uploadConfigSchema, type UploadConfig } from '../records/config.ts';
import { setMeta } from '../records/db.ts';
import type { RecordStore } from '../records/store.ts';
import { adapterByName, type PlatformAdapter } from './adapters/index.ts';
import { backoffDelay } from './backoff.ts';
import { checkUploadUrl, HttpPoster } from './http.ts';
import { uploadTimeliness, type Timeliness } from './timeliness.ts';

export type UploadConfigInput = Partial<Omit<UploadConfig, 'url'>> & { url: string } & Record<string, unknown>;

export interface UploaderOptions {
  store: RecordStore;
  clock: Clock;
  config: UploadConfigInput;
  /** Overrides config.adapter (tests, a platform adapter not in the registry). */
  adapter?: PlatformAdapter;
  random?: () => number;
}

export type BatchOutcome =
  | { kind: 'idle' }
  | { kind: 'ok'; sent: number; acked: number; rejected: number; unanswered: number }
  | { kind: 'failed'; error: string };

export class Uploader {
  readonly config: UploadConfig;
  readonly stats = { batches: 0, sent: 0, acked: 0, duplicates: 0, rejected: 0, failures: 0, pruned: 0 };
  /** Every batch's outcome (logs, metrics, the operator screen). */
  readonly batches = new Signal<BatchOutcome>();
  private readonly adapter: PlatformAdapter;
  private readonly poster: HttpPoster;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private offAppended: (() => void) | undefined;
  private lastPrune = -Infinity;

  constructor(private readonly opts: UploaderOptions) {
    this.config = uploadConfigSchema.parse(opts.config);
    const url = checkUploadUrl(this.config.url, this.config.allowInsecure);
    this.adapter = opts.adapter ?? adapterByName(this.config.adapter);
    this.poster = new HttpPoster(url, { timeoutMs: this.config.timeoutMs, ca: this.config.caFile ? readFileSync(this.config.caFile) : undefined });
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

  timeliness(): Timeliness {
    return uploadTimeliness(this.opts.store, this.opts.clock, this.config.timeliness);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const outcome = await this.uploadOnce();
      if (!this.running) break;
      if (outcome.kind === 'failed') {
        failures++;
        await this.pause(backoffDelay(failures, this.config.backoff, this.opts.random), false);
      } else {
        failures = 0;
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
      outcome = { kind: 'failed', error: errorMessage(err) };
    }
    this.note(outcome);
    return outcome;
  }

  private async sendBatch(): Promise<BatchOutcome> {
    const store = this.opts.store;
    const rows = store.pending(this.config.batchSize);
    if (rows.length === 0) return { kind: 'idle' };
    const { contentType, body } = this.adapter.encodeBatch(rows.map((r) => ({ seq: r.seq, id: r.id, json: r.body })));
    this.stats.batches++;
    this.stats.sent += rows.length;
    const reply = await this.poster.post(contentType, body);
    const ack = this.adapter.decodeAck(reply.status, reply.text);
    if (!ack.ok) return { kind: 'failed', error: ack.error };
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
    if (acked.length + rejected.length === 0) return { kind: 'failed', error: firstReason(ack.results) ?? 'the receiver acknowledged none of the batch' };
    return { kind: 'ok', sent: rows.length, acked: acked.length, rejected: rejected.length, unanswered };
  }

  private note(outcome: BatchOutcome): void {
    const db = this.opts.store.db;
    const wall = String(Math.round(this.opts.clock.wall()));
    try {
      if (outcome.kind === 'failed') {
        this.stats.failures++;
        setMeta(db, 'sync_last_error', outcome.error);
        setMeta(db, 'sync_last_error_wall_ms', wall);
      } else if (outcome.kind === 'ok') setMeta(db, 'sync_last_success_wall_ms', wall);
    } catch {
      // status bookkeeping only: a failure here must not stop uploads
    }
    this.batches.emit(outcome);
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
