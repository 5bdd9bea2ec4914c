/**
 * Helpers for the event-loop tests and bench: big registry files and a probe
 * that measures the longest gap between timer ticks (what a post's poll would
 * have waited).
 */
const HEADER = 'code,valveCode,ownerUnit,model,waterVolumeL,allowedFillKg,tareKg,medium,manufacturedOn,designLifeYears,nextInspectionDue,status';

/** `n` valid YSP35.5 rows (codes `${prefix}000001`...), optionally with bad rows at the given 1-based row numbers. */
export function bigCylinderCsv(n: number, opts: { prefix?: string; badRows?: number[]; unit?: string } = {}): string {
  const prefix = opts.prefix ?? 'BIG';
  const bad = new Set(opts.badRows ?? []);
  const lines = [HEADER];
  for (let i = 1; i <= n; i++) {
    const code = `${prefix}${String(i).padStart(6, '0')}`;
    const due = bad.has(i) ? 'not-a-date' : '2028-01-31';
    lines.push(`${code},V-${code},${opts.unit ?? 'HNGAS01'},YSP35.5,35.5,14.9,16.5,LPG,2024-01,8,${due},active`);
  }
  return lines.join('\n') + '\n';
}

/** Ticks every `everyMs`; `stop()` gives the longest gap seen between two ticks (ms). */
export function gapProbe(everyMs = 5): { stop(): { maxGapMs: number; ticks: number } } {
  let last = performance.now();
  let maxGapMs = 0;
  let ticks = 0;
  const t = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      maxGapMs = Math.max(maxGapMs, performance.now() - last);
      return { maxGapMs, ticks };
    },
  };
}
