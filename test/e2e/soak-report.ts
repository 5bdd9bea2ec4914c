/** The valve soak's printed report (soak-harness.ts): one summary, violations by kind, the first few in full. */
import { percentile } from './soak-check.ts';
import type { SoakReport } from './soak-harness.ts';

export function formatSoak(r: SoakReport): string {
  const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : 'n/a');
  const lines = [
    `valve soak seed ${r.seed} on ${r.bus}: ${r.fills} fills on the wire (${r.opens} opens, ${r.records} records ${JSON.stringify(r.outcomes)}) in ${r.seconds} s`,
    `  violations ${r.violations.length} (goal 0)${r.violations.length ? ` ${JSON.stringify(violationKinds(r.violations))}` : ''}${r.strayMaxMs ? `; longest stray ON ${ms(r.strayMaxMs)}` : ''}`,
    `  close latency (decision → OFF on the wire, ${r.latencies.length} closes): p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, max ${ms(r.max)}; bound ${r.boundMs} ms, over it ${r.overBound}; most requests a close waited behind ${r.maxWaitedBehind}`,
    `  closes with at most one request between decision and OFF (${r.latenciesOneAhead.length}): p99 ${ms(percentile(r.latenciesOneAhead, 99))}, max ${ms(Math.max(...r.latenciesOneAhead))}`,
    `  excused (link down / gateway killed) ${r.excused}, longest ${ms(r.excusedMaxMs)}; stuck operator steps ${r.stuck}; wire log dropped ${r.wireDropped}`,
    `  chaos ${JSON.stringify(r.chaos)}`,
  ];
  for (const v of r.violations.slice(0, 8)) lines.push(`  ! ${v}`);
  if (r.violations.length > 8) lines.push(`  ! ... ${r.violations.length - 8} more`);
  for (const s of r.slow.slice(0, 4)) lines.push(`  slow: ${s}`);
  return lines.join('\n');
}

/** Violations by kind, for the summary line. */
export function violationKinds(vs: string[]): Record<string, number> {
  const kinds: [string, RegExp][] = [
    ['close never on the wire', /never reached the wire|no OFF reached/],
    ['ON after the close’s OFF', /after its OFF/],
    ['ON after the close, before its OFF', /after the close was decided$/],
    ['ON with nothing open', /no attempt open|left ON/],
    ['wire-only', /wire-only/],
  ];
  const out: Record<string, number> = {};
  for (const v of vs) {
    const k = kinds.find(([, re]) => re.test(v))?.[0] ?? 'other';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
