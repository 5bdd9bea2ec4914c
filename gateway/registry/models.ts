/**
 * GB 5842 LPG steel cylinder models (domain.md 2). Used only to check that
 * imported per-cylinder data is plausible: the stamped values of each cylinder
 * are what the gateway fills by.
 */
import type { Medium } from './types.ts';

export interface CylinderModelInfo {
  waterVolumeL: number;
  maxFillKg: number;
  typicalTareKg: number;
  /** The 50 kg size (49.5 kg allowed fill), the only one GB 5842-2023 makes with a liquid-phase valve. */
  fiftyKg?: true;
}

export const cylinderModels: Record<string, CylinderModelInfo> = {
  'YSP4.7': { waterVolumeL: 4.7, maxFillKg: 2, typicalTareKg: 3.4 },
  YSP12: { waterVolumeL: 12, maxFillKg: 5, typicalTareKg: 6.5 },
  'YSP26.2': { waterVolumeL: 26.2, maxFillKg: 11, typicalTareKg: 13.5 },
  'YSP35.5': { waterVolumeL: 35.5, maxFillKg: 14.9, typicalTareKg: 16.5 },
  YSP118: { waterVolumeL: 118, maxFillKg: 49.5, typicalTareKg: 45, fiftyKg: true },
  'YSP118-II': { waterVolumeL: 118, maxFillKg: 49.5, typicalTareKg: 45, fiftyKg: true },
};

/** Model names compare without case or spaces ("ysp 35.5" is YSP35.5). */
export function findModel(name: string): string | undefined {
  const key = name.replace(/\s+/g, '').toUpperCase();
  return Object.keys(cylinderModels).find((m) => m.toUpperCase() === key);
}

/**
 * Is this the 50 kg size? By the model when it is known, else by the stamped allowed
 * fill mass (49.5 kg, domain.md 2). Liquid-phase valves exist only at this size, and the
 * banned dual-phase cylinders were 50 kg ones (GB 5842-2023; seed 001 §二(二)2).
 */
export function isFiftyKg(model: string, allowedFillKg: number | null): boolean {
  const m = findModel(model);
  if (m) return cylinderModels[m].fiftyKg === true;
  return allowedFillKg !== null && allowedFillKg >= 45;
}

export interface ImportLimits {
  /**
   * kg of medium per litre of water volume. LPG 0.42 (domain.md 2, sure). DME cylinders
   * (GB 25035) have their own coefficient, not in domain.md: the LPG value is used as a
   * default because it can only be stricter, never allow an overfill. Configurable.
   */
  fillCoefficientKgPerL: Record<Medium, number>;
  /** A tare this far from the model's typical tare is a warning (fraction; unsure, configurable). */
  tareWarnFraction: number;
  /** Beyond this factor from the typical tare (×/÷) the row is an error: a typo, not a cylinder. */
  tareErrorFactor: number;
}

export const defaultImportLimits: ImportLimits = {
  fillCoefficientKgPerL: { LPG: 0.42, DME: 0.42 },
  tareWarnFraction: 0.2,
  tareErrorFactor: 2,
};

/**
 * Largest allowed fill mass for a water volume, to 0.1 kg. Rounded to the nearest
 * 0.1 kg because that is how the GB 5842-2023 table reads (4.7 L × 0.42 = 1.974 → 2 kg);
 * the 2006 edition truncated (1.9 kg), which this limit also accepts.
 */
export function maxFillFor(waterVolumeL: number, medium: Medium, limits: ImportLimits = defaultImportLimits): number {
  return Math.round(waterVolumeL * limits.fillCoefficientKgPerL[medium] * 10) / 10;
}
