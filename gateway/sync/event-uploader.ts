/**
 * Uploads the station event chain (gateway/records/events.ts) to the receiver's
 * POST /v1/events, apart from the fill-record uploader so neither can hold the
 * other up. Same discipline (issue 5 §2): in seq order, in batches, an event is
 * marked sent only on the receiver's per-event answer (accepted or duplicate),
 * committed in one transaction; failures back off with jitter; no exception
 * ends the loop. Events go only to a receiver that speaks the generic format
 * (our receiver); the URL is upload.url with its last path segment `records`
 * replaced by `events` (`https://rx/v1/records` → `https://rx/v1/events`).
 */
import { readFileSync } from 'node:fs';
import type { Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { Signal } from '../../protocols/signal.ts';
import { uploadConfigSchema, type UploadConfig } from '../records/config.ts';
import type { EventLog } from '../records/events.ts';
import { genericAdapter } from './adapters/generic.ts';
import { backoffDelay } from './backoff.ts';
import { checkUploadUrl, HttpPoster } from './http.ts';
import { causeOf, httpCause, type BatchOutcome, type UploadConfigInput } from './uploader.ts';

/** `…/records` → `…/events`; any other path gets `/v1/events` at the URL's root. */
export function eventsUrlFor(recordsUrl: string): string {
  const u = new URL(recordsUrl);
  u.pathname = /\/records\/?$/.test(u.pathname) ? u.pathname.replace(/records\/?$/, 'events') : '/v1/events';
  return u.href;
}

export class EventUploader {
  readonly config: UploadConfig;
  readonly url: string;
  readonly stats = { batches: 0, sent: 0, acked: 0, duplicates: 0, rejected: 0, failures: 0 };
  readonly batches = new Signal<BatchOutcome>();
  lastError?: string;
  private readonly poster: HttpPoster;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private offAppended: (() => void) | undefined;

  private lastPrune = -Infinity;

  /** `retentionDays`: acknowledged events older than this are pruned (records.retentionDays; none = kept). */
  constructor(private readonly opts: { log: EventLog; clock: Clock; config: UploadConfigInput; random?: () => number; retentionDays?: number }) {
    this.config = uploadConfigSchema.parse(opts.config);
    this.url = eventsUrlFor(this.config.url);
    this.poster = new HttpPoster(checkUploadUrl(this.url, this.config.allowInsecure), { timeoutMs: this.config.timeoutMs, ca: this.config.caFile ? readFileSync(this.config.caFile) : undefined });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.offAppended = this.opts.log.appended.on(() => this.wake?.());
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.offAppended?.();
    this.wake?.();
    this.poster.close();
    await this.loopDone;
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

  private maybePrune(): void {
    const days = this.opts.retentionDays;
    const now = this.opts.clock.now();
    if (days === undefined || now - this.lastPrune < this.config.pruneEveryMs) return;
    this.lastPrune = now;
    try {
      this.opts.log.prune(days);
    } catch {
      // housekeeping: retried at the next interval
    }
  }

  /** One batch of the oldest unacknowledged events. Never throws. */
  async uploadOnce(): Promise<BatchOutcome> {
    let outcome: BatchOutcome;
    try {
      outcome = await this.sendBatch();
    } catch (err) {
      outcome = { kind: 'failed', error: errorMessage(err), cause: causeOf(err), size: this.config.batchSize };
    }
    if (outcome.kind === 'failed') {
      this.stats.failures++;
      this.lastError = outcome.error;
    }
    this.batches.emit(outcome);
    return outcome;
  }

  private async sendBatch(): Promise<BatchOutcome> {
    const rows = this.opts.log.pending(this.config.batchSize);
    if (rows.length === 0) return { kind: 'idle' };
    const { contentType, body } = genericAdapter.encodeBatch(rows.map((r) => ({ seq: r.seq, id: r.id, json: r.body })));
    this.stats.batches++;
    this.stats.sent += rows.length;
    const reply = await this.poster.post(contentType, body);
    const ack = genericAdapter.decodeAck(reply.status, reply.text);
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
    this.opts.log.applyAcks(acked, rejected);
    this.stats.acked += acked.length;
    this.stats.rejected += rejected.length;
    if (acked.length + rejected.length === 0) {
      return { kind: 'failed', error: ack.results.find((r) => r.status === 'rejected')?.reason ?? 'the receiver acknowledged none of the batch', cause: 'rejected', size: rows.length };
    }
    return { kind: 'ok', sent: rows.length, acked: acked.length, rejected: rejected.length, unanswered: rows.length - acked.length - rejected.length };
  }
}
