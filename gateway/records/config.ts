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
  maxMs: z.number().int().min(1).default(60_000),
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
  batchSize: z.number().int().min(1).max(5000).default(500),
  timeoutMs: z.number().int().min(100).default(15_000),
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
