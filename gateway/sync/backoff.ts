/**
 * Exponential backoff with jitter, so a fleet of stations coming back after
 * a platform outage does not retry in lockstep.
 */
import type { BackoffConfig } from '../records/config.ts';

/** Delay before retry number `failures` (1 = first retry): base·factor^(n−1) capped at max, the last `jitter` fraction random. */
export function backoffDelay(failures: number, cfg: BackoffConfig, random: () => number = Math.random): number {
  const base = Math.min(cfg.maxMs, cfg.initialMs * cfg.factor ** Math.max(0, failures - 1));
  return Math.round(base * (1 - cfg.jitter) + base * cfg.jitter * random());
}
