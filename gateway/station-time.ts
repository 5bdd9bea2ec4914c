/**
 * The one way the dashboard and the CLI write a time for people (issue 12 point 8):
 * ISO 8601 with the station's offset, `records.utcOffsetMinutes` when configured,
 * else the PC's own offset at that moment (what the record store does too).
 */
import { isoWithOffset } from './records/record.ts';
import { resolveUtcOffset } from './records/config.ts';

export interface StationTimeSettings {
  records: { utcOffsetMinutes?: number };
}

/** The station's UTC offset in minutes at `epochMs`. */
export function stationOffsetMinutes(cfg: StationTimeSettings, epochMs: number = Date.now()): number {
  return resolveUtcOffset(cfg.records, epochMs);
}

/** Epoch ms → `2026-01-01T08:00:00.000+08:00` at the station's offset. */
export function stationIso(cfg: StationTimeSettings, epochMs: number): string {
  return isoWithOffset(epochMs, stationOffsetMinutes(cfg, epochMs));
}
