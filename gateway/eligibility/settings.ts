/**
 * Eligibility settings: every value is configurable (config key `eligibility:`),
 * because domain.md marks the underlying figures as station practice or unsure.
 * One zod schema gives the defaults, the type and path-qualified errors.
 */
import { z } from 'zod';
import { parseDate } from '../registry/dates.ts';

const isoDate = z.string().refine((s) => parseDate(s) === s, 'a date YYYY-MM-DD');

export const eligibilitySettingsSchema = z.object({
  /**
   * ± kg around the registered tare when matching the weight on the scale to the
   * scanned code (pocket-code check, domain.md 1/seed 003). 0.3 kg: the stamped tare
   * is to 0.1 kg and a cylinder in service gains or loses a few hundred grams (paint,
   * rust, a replaced valve or shroud), plus the scale's own error (e = 20-50 g, domain.md 4).
   * Configurable: tighten once real tares are known.
   */
  weightToleranceKg: z.number().min(0).max(5).default(0.3),
  /**
   * The most residual gas a returned cylinder may plausibly hold, as a fraction of its
   * allowed fill mass. 20 %: empties come back with heavy residue (C5+ that does not
   * vaporise) and some customers return part-used cylinders; much more than that is a
   * heavier (different) cylinder or a full one, both signs of a pocket code. Unsure:
   * configurable.
   */
  residualMaxFraction: z.number().min(0).max(1).default(0.2),
  /**
   * Below this gross the scale is empty (no cylinder). 1 kg: well under the lightest
   * tare in GB 5842 (YSP4.7, 3.4 kg, domain.md 2), well over zero drift and a resting hose.
   */
  emptyScaleBelowKg: z.number().min(0).max(50).default(1),
  /**
   * The same code may not be filled again sooner than this (pocket code, domain.md 1:
   * "cannot be filled twice within a plausible interval"). 30 min: no real cylinder is
   * emptied by a customer and returned in less. Configurable.
   */
  minRefillIntervalMs: z.number().int().min(0).max(7 * 24 * 3_600_000).default(30 * 60_000),
  /** Idle time after which a filler's badge-in at a post lapses (station policy, not in domain.md). */
  badgeIdleTimeoutMs: z.number().int().min(60_000).max(24 * 3_600_000).default(30 * 60_000),
  /** A filler is badged in at one post at a time (one person, one gun); set true for multi-gun operators. */
  allowFillerAtSeveralPosts: z.boolean().default(false),
  /**
   * From this date (YYYY-MM-DD) own cylinders newly taken into stock or periodically inspected
   * must carry a smart angle valve (seed 001 §三(二)4: 2023年9月30日起 … 新进自有钢瓶、到期检验钢瓶
   * 必须配备智能角阀). A local rule: other areas set their own date; null turns the check off.
   */
  smartValveRequiredFrom: isoDate
    .nullable()
    .default('2023-09-30')
    .describe('From this date (YYYY-MM-DD) own cylinders taken into stock or periodically inspected need a smart angle valve, else SMART_VALVE_REQUIRED (seed 001 §三(二)4; a local rule: set your area\'s date, null = off)'),
  /**
   * Cylinders made or newly bought from this date must carry an electronic identification mark
   * (GB 5842-2023 电子识读标志, in force 2023-12-01; seed 002 附件1 item 23: 新购置的气瓶 … 永久性电子识读标志).
   * null turns the check off.
   */
  eIdRequiredFrom: isoDate
    .nullable()
    .default('2023-12-01')
    .describe('Cylinders made or taken into stock from this date need an electronic identification mark, else E_ID_MISSING (GB 5842-2023, in force 2023-12-01; seed 002 item 23). null = off'),
});

export type EligibilitySettings = z.output<typeof eligibilitySettingsSchema>;

export const defaultEligibilitySettings: EligibilitySettings = eligibilitySettingsSchema.parse({});
