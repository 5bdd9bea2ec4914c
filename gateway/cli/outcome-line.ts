/** One line per fill attempt for people watching a terminal: outcome, masses, people, reasons in Chinese and English. */
import { reasonMessage } from '../reasons.ts';
import type { FillAttempt } from '../records/types.ts';

const kg = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(2)} kg`);

export function outcomeLine(a: FillAttempt): string {
  const head = `${a.post.padEnd(3)} ${(a.cylinderCode ?? '?').padEnd(17)} ${(a.model ?? '').padEnd(9)} ${a.outcome.toUpperCase().padEnd(11)}`;
  if (a.outcome === 'refused' || a.outcome === 'aborted') {
    const reasons = a.refusals.map((r) => `${r.code} ${reasonMessage(r.code, 'zh')} / ${reasonMessage(r.code, 'en')}${r.detail ? ` (${r.detail})` : ''}`);
    const trips = a.trips.map((t) => `${t.code} ${reasonMessage(t.code, 'en')}`);
    return `${head} ${[...reasons, ...trips].join('; ')}`;
  }
  const parts = [
    `content ${kg(a.reweighedNetKg ?? (a.netFilledKg !== undefined && a.residualKg !== undefined ? a.netFilledKg + a.residualKg : undefined))} (target ${kg(a.targetKg)}, allowed ${kg(a.allowedFillKg)})`,
    a.deviationKg !== undefined ? `Δ ${a.deviationKg >= 0 ? '+' : ''}${(a.deviationKg * 1000).toFixed(0)} g ${a.toleranceState ?? ''}` : undefined,
    a.reweighedGrossKg !== undefined ? `re-weighed ${kg(a.reweighedGrossKg)}` : undefined,
    a.durationMs !== undefined ? `${(a.durationMs / 1000).toFixed(1)} s` : undefined,
    `filler ${a.filler?.badge ?? '-'} checker ${a.checker?.badge ?? '-'}`,
    a.mustDecant ? 'MUST DECANT' : undefined,
    ...a.trips.map((t) => `trip ${t.code} ${reasonMessage(t.code, 'zh')} / ${reasonMessage(t.code, 'en')}`),
  ];
  return `${head} ${parts.filter(Boolean).join(', ')}`;
}
