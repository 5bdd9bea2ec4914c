/** One line per fill attempt for people watching a terminal: outcome, masses, people, reasons in Chinese and English (texts from gateway/i18n; FILLGATE_LANG=zh|en). */
import { cliLang, t, type Lang } from '../i18n/index.ts';
import { reasonMessage } from '../reasons.ts';
import type { FillAttempt } from '../records/types.ts';

const kg = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(2)} kg`);

export function outcomeLine(a: FillAttempt, lang: Lang = cliLang()): string {
  const head = `${a.post.padEnd(3)} ${(a.cylinderCode ?? '?').padEnd(17)} ${(a.model ?? '').padEnd(9)} ${t(`cli.outcome.${a.outcome}`, lang).padEnd(11)}`;
  if (a.outcome === 'refused' || a.outcome === 'aborted') {
    const reasons = a.refusals.map((r) => `${r.code} ${reasonMessage(r.code, 'zh')} / ${reasonMessage(r.code, 'en')}${r.detail ? ` (${r.detail})` : ''}`);
    const trips = a.trips.map((x) => `${x.code} ${reasonMessage(x.code, lang)}`);
    return `${head} ${[...reasons, ...trips].join('; ')}`;
  }
  const content = a.reweighedNetKg ?? (a.netFilledKg !== undefined && a.residualKg !== undefined ? a.netFilledKg + a.residualKg : undefined);
  const parts = [
    t('cli.line.content', lang, { content: kg(content), target: kg(a.targetKg), allowed: kg(a.allowedFillKg) }),
    a.deviationKg !== undefined ? `Δ ${a.deviationKg >= 0 ? '+' : ''}${(a.deviationKg * 1000).toFixed(0)} g ${a.toleranceState ?? ''}` : undefined,
    a.reweighedGrossKg !== undefined ? t('cli.line.reweighed', lang, { kg: kg(a.reweighedGrossKg) }) : undefined,
    a.durationMs !== undefined ? `${(a.durationMs / 1000).toFixed(1)} s` : undefined,
    t('cli.line.people', lang, { filler: a.filler?.badge ?? '-', checker: a.checker?.badge ?? '-' }),
    a.mustDecant ? t('cli.line.decant', lang) : undefined,
    ...a.trips.map((x) => `${t('cli.line.trip', lang)} ${x.code} ${reasonMessage(x.code, 'zh')} / ${reasonMessage(x.code, 'en')}`),
  ];
  return `${head} ${parts.filter(Boolean).join(', ')}`;
}
