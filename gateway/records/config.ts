/**
 * Settings of the record store, the uploader and upload timeliness. The lead's
 * config schema can embed these as `records:` and `upload:`; every default says
 * where its number comes from.
 */
import { z } from 'zod';

export const recordsConfigSchema = z.object({
  /** Size the record database may reach; at nearFullRatio of it the station locks (refuses fills) but can still record refusals. */
  limitBytes: z.number().int().positive().default(4 * 1024 ** 3),
  nearFullRatio: z.number().min(0.5).max(0.99).default(0.9),
  /** Free disk space below this also counts as near full. */
  minDiskFreeBytes: z.number().int().min(0).default(256 * 1024 ** 2),
  /** A change of (wall − monotonic) larger than this between two records is a clock jump (design note: 2 s). */
  clockJumpThresholdMs: z.number().int().min(100).default(2000),
  /** Offset written in record times; default: the PC's zone (China: +480). */
  utcOffsetMinutes: z.number().int().min(-840).max(840).optional(),
  /** Keep records at least this long (DB4114/T 185-2023: 2 years); only acknowledged older ones are pruned. */
  retentionDays: z.number().min(1).default(730),
});

export const timelinessConfigSchema = z.object({
  /** Oldest unacknowledged record older than this: warn (issue 5: 1 h). */
  warnAgeMs: z.number().int().positive().default(3_600_000),
  /** Optional: older than this, new fills are refused with STATION_LOCKED_UPLOAD (domain.md 1, seed 000). */
  lockAgeMs: z.number().int().positive().optional(),
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

export type RecordsConfig = z.infer<typeof recordsConfigSchema>;
export type TimelinessConfig = z.infer<typeof timelinessConfigSchema>;
export type BackoffConfig = z.infer<typeof backoffSchema>;
export type UploadConfig = z.infer<typeof uploadConfigSchema>;
