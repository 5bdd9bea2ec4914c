/**
 * Target, cut-off and preact (in-flight mass, 落差/提前量) arithmetic.
 * Weighing controllers cut off at target − preact and learn the preact after
 * each fill by a fraction of the overshoot (Rice Lake 920i LEARN: half of it),
 * clamped, and never compute a cut-off past the maximum fill (domain.md 4).
 */
import type { ToleranceState } from '../records/types.ts';
import type { ControllerConfig } from './config.ts';
import type { CylinderFacts, PreactEntry, PreactTable } from './types.ts';

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

export function preactEntry(table: PreactTable, model: string, cfg: ControllerConfig): PreactEntry {
  return table[model] ?? { preactKg: cfg.preact.initialKg, fills: 0 };
}

/**
 * The preact to use now (kg). The in-flight mass is flow × closing time, so an
 * entry learned at another flow is scaled by the flow measured at this fill.
 */
export function preactAt(entry: PreactEntry, flowKgPerS: number | undefined, cfg: ControllerConfig): number {
  let kg = entry.preactKg;
  if (cfg.preactScalesWithFlow && entry.flowKgPerS && flowKgPerS && flowKgPerS > 0) {
    kg = (entry.preactKg * flowKgPerS) / entry.flowKgPerS;
  }
  return clamp(kg, cfg.preact.minKg, cfg.preact.maxKg);
}

/** After a fill: move the preact used by gain × overshoot (overshoot > 0 = too much gas), clamped. */
export function learnPreact(usedKg: number, overshootKg: number, flowKgPerS: number | undefined, fills: number, cfg: ControllerConfig): PreactEntry {
  const preactKg = clamp(usedKg + cfg.preactLearnGain * overshootKg, cfg.preact.minKg, cfg.preact.maxKg);
  return flowKgPerS && flowKgPerS > 0 ? { preactKg, flowKgPerS, fills: fills + 1 } : { preactKg, fills: fills + 1 };
}

/** Target content (kg of gas): the cylinder's explicit target or allowed − margin, never above that. */
export function targetContent(c: CylinderFacts, cfg: ControllerConfig): number {
  const ceiling = c.allowedFillKg - cfg.targetBelowMaxKg;
  return c.targetKg !== undefined ? Math.min(c.targetKg, ceiling) : ceiling;
}

/** Gross at which to close: target − preact, never past the allowed fill mass. */
export function cutoffGross(targetGrossKg: number, limitGrossKg: number, preactKg: number): number {
  return Math.min(targetGrossKg - Math.max(0, preactKg), limitGrossKg);
}

/** Under / in / over tolerance around the target (OPC 40200 ToleranceState). Above the allowed mass is always over. */
export function toleranceOf(contentKg: number, targetKg: number, allowedKg: number, toleranceKg: number): ToleranceState {
  if (contentKg > allowedKg || contentKg > targetKg + toleranceKg) return 'over';
  if (contentKg < targetKg - toleranceKg) return 'under';
  return 'in';
}
