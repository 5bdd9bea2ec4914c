/**
 * Benchmark (issue 9 point 6): the long valve soak. The same harness as
 * test/e2e/valve-soak.test.ts (test/e2e/soak-harness.ts), run until enough
 * fills: 8 posts on one shared bus (Modbus TCP, RTU on a pty, RTU over TCP), seeded chaos (slow, deaf and garbled
 * units, link drops), in-process gateway restarts, and SIGKILLs of a
 * child-process gateway on the Modbus TCP run. Prints the violations of the
 * valve invariant (goal 0), the close latency p50/p99/max and the fills.
 *
 * Run alone: `npm run bench -- valve-soak`, or
 *   `node --import tsx test/bench/valve-soak.ts`
 * Environment: VALVE_SOAK_FILLS (default 2000, over all runs), VALVE_SOAK_SEED,
 * VALVE_SOAK_BUS (all | modbus-tcp | rtu-tcp | rtu-pty), VALVE_SOAK_RETRIES (default 4).
 */
import { formatSoak, runSoak, type SoakReport } from '../e2e/soak-harness.ts';
import type { SoakBus } from '../e2e/soak-station.ts';

export interface Result {
  fills: number;
  violations: number;
  closes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  boundMs: number;
  overBound: number;
  runs: Pick<SoakReport, 'bus' | 'seed' | 'seconds' | 'fills' | 'records' | 'outcomes' | 'p50' | 'p99' | 'max' | 'overBound' | 'excused' | 'chaos'>[];
  firstViolations: string[];
}

export async function run(opts: { fills?: number; seed?: number; bus?: 'all' | SoakBus; retries?: number; print?: boolean } = {}): Promise<Result> {
  const env = process.env;
  const total = opts.fills ?? Number(env.VALVE_SOAK_FILLS ?? 2000);
  const seed = opts.seed ?? Number(env.VALVE_SOAK_SEED ?? 9006);
  const which = opts.bus ?? ((env.VALVE_SOAK_BUS as 'all' | SoakBus | undefined) ?? 'all');
  const retries = opts.retries ?? Number(env.VALVE_SOAK_RETRIES ?? 4);
  const print = opts.print ?? true;
  const plan: { bus: SoakBus; share: number }[] =
    which === 'all'
      ? [{ bus: 'modbus-tcp', share: 0.5 }, { bus: 'rtu-pty', share: 0.3 }, { bus: 'rtu-tcp', share: 0.2 }]
      : [{ bus: which, share: 1 }];
  const reports: SoakReport[] = [];
  for (const [i, p] of plan.entries()) {
    const fills = Math.ceil(total * p.share);
    const r = await runSoak({
      seed: seed + i,
      bus: p.bus,
      fills,
      durationMs: fills * 2000, // a cap; the fill count ends the run
      retries,
      chaosEveryMs: 1500,
      restartEveryMs: 45_000,
      killEveryMs: p.bus === 'modbus-tcp' ? 120_000 : 0,
      log: print ? (l) => console.log(`  ${l}`) : undefined,
    });
    if (print) console.log(formatSoak(r));
    reports.push(r);
  }
  const lat = reports.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)]! : NaN);
  const round = (x: number) => Math.round(x * 10) / 10;
  const result: Result = {
    fills: reports.reduce((n, r) => n + r.fills, 0),
    violations: reports.reduce((n, r) => n + r.violations.length, 0),
    closes: lat.length,
    p50Ms: round(pct(50)),
    p99Ms: round(pct(99)),
    maxMs: round(lat.at(-1) ?? NaN),
    boundMs: reports[0]!.boundMs,
    overBound: reports.reduce((n, r) => n + r.overBound, 0),
    runs: reports.map((r) => ({ bus: r.bus, seed: r.seed, seconds: r.seconds, fills: r.fills, records: r.records, outcomes: r.outcomes, p50: round(r.p50), p99: round(r.p99), max: round(r.max), overBound: r.overBound, excused: r.excused, chaos: r.chaos })),
    firstViolations: reports.flatMap((r) => r.violations).slice(0, 20),
  };
  if (print) {
    console.log(
      `valve soak total: ${result.fills} fills, violations ${result.violations} (goal 0), close latency p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms ` +
        `over ${result.closes} closes (bound ${result.boundMs} ms + one request per OFF queued ahead; over it ${result.overBound})`,
    );
  }
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const json = process.argv.includes('--json');
  const r = await run({ print: !json });
  if (json) console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
