/** One line per fill attempt for people watching a terminal: outcome, masses, people, reasons in Chinese and English (texts from gateway/i18n; FILLGATE_LANG=zh|en). */
import { cliLang, t, type Lang } from '../i18n/index.ts';
import { reasonMessage, type ReasonCode } from '../reasons.ts';
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

/** The facts of an outcome line for a JSON log: machine-readable codes, plus the English line as `msg`. */
export function outcomeFields(a: FillAttempt): Record<string, unknown> {
  return {
    post: a.post,
    outcome: a.outcome,
    attemptId: a.attemptId,
    ...(a.cylinderCode ? { cylinderCode: a.cylinderCode } : {}),
    ...(a.model ? { model: a.model } : {}),
    ...(a.refusals.length ? { refusals: a.refusals.map((r) => r.code) } : {}),
    ...(a.trips.length ? { trips: a.trips.map((t) => t.code) } : {}),
    ...(a.netFilledKg !== undefined ? { netFilledKg: a.netFilledKg } : {}),
    ...(a.reweighedNetKg !== undefined ? { reweighedNetKg: a.reweighedNetKg } : {}),
  };
}

/** A post that went to fault outside an attempt (e.g. the valve reported open while closed): its own line. */
export function faultLine(post: string, reason: string, lang: Lang = cliLang()): string {
  return `${post.padEnd(3)} ${''.padEnd(17)} ${''.padEnd(9)} ${t('cli.outcome.fault', lang).padEnd(11)} ${reason} ${reasonMessage(reason as ReasonCode, 'zh')} / ${reasonMessage(reason as ReasonCode, 'en')}`;
}

type OutcomeEvent = { kind: string; post: string; attempt?: FillAttempt; phase?: string; reason?: string; attemptId?: string };

/**
 * `fillgate start`'s outcome lines (issue 12 point 8): one per fill outcome, refusal and trip,
 * and one per post fault that no record reports. Pretty text on a terminal (`print`); a JSON log
 * line otherwise (`log`, the station's logger), with the same text as its message.
 */
export function reportOutcomes(
  events: { on(fn: (e: OutcomeEvent) => void): () => void },
  out: { pretty: boolean; lang?: Lang; print(line: string): void; log(fields: Record<string, unknown>, msg: string): void },
): () => void {
  const lang = out.lang ?? cliLang();
  return events.on((e) => {
    if (e.kind === 'record' && e.attempt) {
      if (out.pretty) out.print(outcomeLine(e.attempt, lang));
      else out.log(outcomeFields(e.attempt), outcomeLine(e.attempt, 'en').replace(/\s{2,}/g, ' '));
    } else if (e.kind === 'phase' && e.phase === 'fault' && !e.attemptId && e.reason) {
      if (out.pretty) out.print(faultLine(e.post, e.reason, lang));
      else out.log({ post: e.post, outcome: 'fault', trips: [e.reason] }, faultLine(e.post, e.reason, 'en').replace(/\s{2,}/g, ' '));
    }
  });
}
