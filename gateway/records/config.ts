/**
 * Settings of the record store, the uploader and upload timeliness. The lead's
 * config schema can embed these as `records:` and `upload:`; every default says
 * where its number comes from.
 */
import { z } from 'zod';

export const recordsConfigSchema = z.object({
  /**
   * Size the record database is planned for. New fills may use it up to limitBytes − the reserve:
   * there the station locks (STATION_LOCKED_STORE) and a valve-opening journal write is refused.
   * Refusals, interrupted fills (recovery) and the records of fills already under way are always
   * committed, into the reserve and, should it ever come to that, past limitBytes: only a full disk stops them.
   */
  limitBytes: z.number().int().positive().default(4 * 1024 ** 3),
  /** The station locks at this fraction of limitBytes (or at limitBytes − reserveBytes, whichever comes first). */
  nearFullRatio: z.number().min(0.5).max(0.99).default(0.9),
  /**
   * The reserve at the top of limitBytes that new fills cannot use, kept for refusals and recovery
   * (issue 13 point 4). Default: limitBytes × (1 − nearFullRatio), i.e. the part above the lock.
   */
  reserveBytes: z.number().int().min(0).optional(),
  /**
   * At start, a post whose journal says an attempt was open waits this long for the first stable,
   * fresh sample of its scale before the interrupted record is committed, so the record carries the
   * measured mass (issue 13 point 2; docs/record-format.md 4). 0 = commit at once, no re-weigh.
   */
  recoveryReweighMs: z.number().int().min(0).max(60_000).default(5000),
  /** Free disk space below this also counts as near full. */
  minDiskFreeBytes: z.number().int().min(0).default(256 * 1024 ** 2),
  /** A change of (wall − monotonic) larger than this between two records is a clock jump (design note: 2 s). */
  clockJumpThresholdMs: z.number().int().min(100).default(2000),
  /**
   * The station's one UTC offset (minutes): every time the gateway writes (controller, record store,
   * dashboard day boundaries, export date bounds) carries it. Default: the PC's zone, read once at start
   * (resolveUtcOffset) and printed; China is +480.
   */
  utcOffsetMinutes: z.number().int().min(-840).max(840).optional(),
  /** Keep records at least this long (DB4114/T 185-2023: 2 years); only acknowledged older ones are pruned. */
  retentionDays: z
    .number()
    .min(1)
    .default(730)
    .describe('Keep records at least this many days; only records the platform acknowledged (or a supervisor settled) are pruned. Below 730 (2 years, DB4114/T 185-2023) is a config error'),
});

export const timelinessConfigSchema = z.object({
  /** Oldest unacknowledged record older than this: warn (issue 5: 1 h). */
  warnAgeMs: z.number().int().positive().default(3_600_000).describe('The oldest record not uploaded (waiting, or rejected by the platform) older than this: warn (ms). A rejected record warns at once'),
  /**
   * Older than this, new fills are refused with STATION_LOCKED_UPLOAD until the backlog is
   * uploaded (domain.md 1, seed 000: 充装数据上传不及时不准确的充装单位，一律不得充装). On by default
   * (issue 10 point 8) at 24 h: the seeds say "promptly" (及时) without a number; one day lets a
   * station ride out a night's network outage or a platform maintenance window, while no day's
   * fills go unreported past the next day (warnAgeMs warns 23 h earlier). A record the platform
   * rejected counts as not uploaded until resolved. null turns the lock off (config check warns).
   */
  lockAgeMs: z
    .number()
    .int()
    .positive()
    .nullable()
    .default(86_400_000)
    .describe(
      'The oldest record not uploaded older than this (ms): new fills are refused (STATION_LOCKED_UPLOAD) until it is acknowledged, sent again and accepted, or settled by a supervisor (seed 000: 上传不及时不准确…一律不得充装). 24 h: the seeds say "promptly" without a number; a day rides out a night\'s outage and no day\'s fills go unreported past the next. null = off (warned)',
    ),
});

export const backoffSchema = z.object({
  initialMs: z.number().int().min(1).default(500),
  /**
   * Longest wait between retries. A few seconds suits a LAN or VPN link that drops a connection now
   * and then (issue 13: a 60 s cap left a lossy link idle most of the time); raise it for a platform
   * that asks stations to stay away longer.
   */
  maxMs: z.number().int().min(1).default(5_000),
  factor: z.number().min(1).default(2),
  /** Fraction of each delay that is random ("equal jitter"): 0.5 → delay in [d/2, d]. */
  jitter: z.number().min(0).max(1).default(0.5),
});

export const uploadConfigSchema = z.object({
  /** https://… ; plain http:// only to a loopback host unless allowInsecure. */
  url: z.string().url(),
  allowInsecure: z.boolean().default(false),
  /** PEM file of a private CA for the platform's certificate. */
  caFile: z.string().optional(),
  /** Platform adapter: generic (our receiver) or example-province. */
  adapter: z.string().default('generic'),
  /**
   * Most records in one batch. The uploader halves its batch after a failed one (down to 1 record)
   * and doubles it back after each success, up to this and batchBytes (issue 13: 500-record batches
   * never got through a link that resets a connection now and then; 50 did).
   */
  batchSize: z.number().int().min(1).max(5000).default(200),
  /** Most bytes of records in one batch (a record is ~1.3 KB): at least one record is always sent. */
  batchBytes: z.number().int().min(1024).default(256 * 1024),
  /** Whole request, from connect to the last byte of the reply. */
  timeoutMs: z.number().int().min(100).default(15_000),
  /** No byte moved either way for this long: the connection is given up as stalled (a half-dead link). */
  stallMs: z.number().int().min(100).default(5_000),
  /** Upload failures are logged with their cause, at most once per this interval (with the count in between). */
  failureLogEveryMs: z.number().int().min(0).default(30_000),
  /** Nothing to send: look again after this long (an append wakes the uploader sooner). */
  idleMs: z.number().int().min(10).default(2000),
  backoff: backoffSchema.default(backoffSchema.parse({})),
  pruneEveryMs: z.number().int().min(1000).default(3_600_000),
  timeliness: timelinessConfigSchema.default(timelinessConfigSchema.parse({})),
});

/** The station's offset: the configured one, else the PC's zone at `wallMs` (fixed for the run; China keeps no DST). */
export function resolveUtcOffset(cfg: { utcOffsetMinutes?: number }, wallMs = Date.now()): number {
  return cfg.utcOffsetMinutes ?? -new Date(wallMs).getTimezoneOffset();
}

/** `+08:00` for 480. */
export function formatUtcOffset(minutes: number): string {
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export type RecordsConfig = z.infer<typeof recordsConfigSchema>;
export type TimelinessConfig = z.infer<typeof timelinessConfigSchema>;
export type BackoffConfig = z.infer<typeof backoffSchema>;
export type UploadConfig = z.infer<typeof uploadConfigSchema>;
