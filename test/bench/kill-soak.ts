/**
 * Benchmark (issue 13 "Done when"): the kill soak. The same harness as test/e2e/kill-soak.test.ts
 * (test/e2e/kill-soak.ts), 30 SIGKILLs of a child-process gateway at seeded random moments of
 * continuous fills at 2 posts, the relay watchdog ON (2 s). Prints kills, scanned attempts, records,
 * interrupted records with their masses, overfills quarantined and alarmed, the chain check, and every
 * departure from those goals (goal: none).
 *
 * Run alone: `npm run bench -- kill-soak`, or `node --import tsx test/bench/kill-soak.ts`
 * Environment: KILL_SOAK_KILLS (default 30), KILL_SOAK_SEED (default 1313).
 */
import { formatKillSoak, runKillSoak, type KillSoakReport } from '../e2e/kill-soak.ts';

export async function run(opts: { kills?: number; seed?: number; print?: boolean } = {}): Promise<KillSoakReport> {
  const kills = opts.kills ?? Number(process.env.KILL_SOAK_KILLS ?? 30);
  const seed = opts.seed ?? Number(process.env.KILL_SOAK_SEED ?? 1313);
  const print = opts.print ?? true;
  const r = await runKillSoak({ seed, kills, log: print && process.env.KILL_SOAK_LOG ? (l) => console.log(`  ${l}`) : undefined });
  if (print) console.log(formatKillSoak(r));
  return r;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const json = process.argv.includes('--json');
  const r = await run({ print: !json });
  if (json) console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
