/**
 * Benchmark (issue 3 point 9b): cut-off reaction of the post controller: the
 * time from handing a sample (or the predicted-crossing tick) to transition()
 * until it returns with the closeValve command, p50/p99, with 32 posts polled
 * at 10 Hz. This is the pure function's cost only; the full path through the
 * link and the valve driver is measured elsewhere. All sample transitions are
 * reported too, since each of them must be cheap for 32 posts at 10-50 Hz.
 *
 * Run: `node --import tsx test/bench/cutoff-latency.ts [--json]`; `run(opts)` for `npm run bench`.
 */
import { percentile, simulateFills } from './fill-accuracy.ts';

export interface Result {
  posts: number;
  pollHz: number;
  cutOffs: number;
  cutOffP50Us: number;
  cutOffP99Us: number;
  transitions: number;
  transitionP50Us: number;
  transitionP99Us: number;
}

const us = (ns: number) => Math.round(ns / 10) / 100;

export async function run(opts: { posts?: number; fills?: number; pollHz?: number; print?: boolean } = {}): Promise<Result> {
  const posts = opts.posts ?? 32;
  const pollHz = opts.pollHz ?? 10;
  const cut: number[] = [];
  const all: number[] = [];
  simulateFills({
    fills: opts.fills ?? posts * 20,
    posts,
    pollHz,
    seed: 11,
    timing: (ns, step) => {
      all.push(ns);
      if (step.commands.some((c) => c.kind === 'closeValve')) cut.push(ns);
    },
  });
  // The first few hundred calls include JIT warm-up; a running gateway is past them.
  const warm = (xs: number[]) => xs.slice(Math.min(200, Math.floor(xs.length / 10)));
  const c = warm(cut);
  const a = warm(all);
  const result: Result = {
    posts,
    pollHz,
    cutOffs: c.length,
    cutOffP50Us: us(percentile(c, 50)),
    cutOffP99Us: us(percentile(c, 99)),
    transitions: a.length,
    transitionP50Us: us(percentile(a, 50)),
    transitionP99Us: us(percentile(a, 99)),
  };
  if (opts.print ?? true) {
    console.log(`\nCut-off reaction (pure transition cost), ${posts} posts at ${pollHz} Hz, microseconds`);
    console.log(`cut-offs    ${String(result.cutOffs).padStart(8)}  p50 ${result.cutOffP50Us.toFixed(2).padStart(7)}  p99 ${result.cutOffP99Us.toFixed(2).padStart(7)}`);
    console.log(`all samples ${String(result.transitions).padStart(8)}  p50 ${result.transitionP50Us.toFixed(2).padStart(7)}  p99 ${result.transitionP99Us.toFixed(2).padStart(7)}`);
  }
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const json = process.argv.includes('--json');
  const result = await run({ print: !json });
  if (json) console.log(JSON.stringify(result, null, 2));
}
