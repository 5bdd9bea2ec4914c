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
