/**
 * Uploads the station event chain (gateway/records/events.ts) to the receiver's
 * POST /v1/events, apart from the fill-record uploader so neither can hold the
 * other up. It is the record uploader (uploader.ts: seq order, per-row answers,
 * adaptive batches, backoff, failures logged and counted) on another source:
 * events go only to a receiver that speaks the generic format (our receiver);
 * the URL is upload.url with its last path segment `records` replaced by
 * `events` (`https://rx/v1/records` → `https://rx/v1/events`).
 */
import type { Clock } from '../../protocols/clock.ts';
import type { Logger } from '../log.ts';
import type { EventLog } from '../records/events.ts';
import { genericAdapter } from './adapters/generic.ts';
import { Uploader, type UploadConfigInput, type UploaderOptions, type UploadSource } from './uploader.ts';

/** `…/records` → `…/events`; any other path gets `/v1/events` at the URL's root. */
export function eventsUrlFor(recordsUrl: string): string {
  const u = new URL(recordsUrl);
  u.pathname = /\/records\/?$/.test(u.pathname) ? u.pathname.replace(/records\/?$/, 'events') : '/v1/events';
  return u.href;
}

/** The event chain as an upload source; acknowledged events are pruned after `retentionDays` (none: kept). */
export function eventSource(log: EventLog, retentionDays?: number): UploadSource {
  return {
    appended: log.appended,
    db: log.db,
    pending: (limit) => log.pending(limit),
    applyAcks: (acked, rejected) => log.applyAcks(acked, rejected),
    prune: () => (retentionDays === undefined ? 0 : log.prune(retentionDays)),
  };
}

export class EventUploader extends Uploader {
  readonly url: string;

  constructor(opts: { log: EventLog; clock: Clock; config: UploadConfigInput; random?: () => number; retentionDays?: number; logger?: Logger; before?: UploaderOptions['before'] }) {
    const url = eventsUrlFor(opts.config.url);
    super({
      store: eventSource(opts.log, opts.retentionDays),
      clock: opts.clock,
      config: opts.config,
      url,
      adapter: genericAdapter,
      metaPrefix: 'events_sync',
      ...(opts.random ? { random: opts.random } : {}),
      ...(opts.logger ? { log: opts.logger } : {}),
      ...(opts.before ? { before: opts.before } : {}),
    });
    this.url = url;
  }
}
