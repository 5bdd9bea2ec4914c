/**
 * Benchmark (issue 5 §6): catch-up rate after an outage (records per second
 * acknowledged by the receiver on loopback; goal ≥ 5,000/s, a 100,000-record
 * backlog cleared in under a minute) and the durable commit rate of fill
 * records with synchronous=FULL (one transaction per record, as the post
 * controller commits them). The 100,000-record run also checks that the
 * receiver holds every record once, in order, with both chains verifying.
 * Run: `node --import tsx test/bench/records.ts [records] [--json]` (or through `npm run bench`).
 */
import { systemClock } from '../../protocols/clock.ts';
import { RecordStore } from '../../gateway/records/store.ts';
import { verifyRecords } from '../../gateway/records/verify.ts';
import { makeAttempt, makeKeys, tempDir } from '../gateway/records/fixtures.ts';
import { receivedChainProblems } from '../gateway/sync/helpers/check.ts';
import { runOutage } from '../gateway/sync/helpers/outage.ts';

export interface Result {
  commitFullPerSec: number;
  commitBatch100PerSec: number;
  backlog: number;
  catchUpPerSec: number;
  catchUpSeconds: number;
  exactlyOnceInOrder: boolean;
  localChainOk: boolean;
  goals: { catchUpAtLeast5000: boolean; backlogUnderAMinute: boolean };
}

function commitRate(dir: string, n: number, batch: number): number {
  const keys = makeKeys();
  const store = new RecordStore({ db: `${dir}/commit-${batch}.db`, clock: systemClock, station: 'ST01', privateKey: keys.privateKey });
  const t = performance.now();
  for (let i = 0; i < n; i += batch) {
    const attempts = Array.from({ length: batch }, (_, k) => makeAttempt(i + k + 1));
    if (batch === 1) store.append(attempts[0]);
    else store.appendMany(attempts);
  }
  const perSec = n / ((performance.now() - t) / 1000);
  store.close();
  return perSec;
}

export async function run(opts: { records?: number; print?: boolean } = {}): Promise<Result> {
  const { dir, cleanup } = tempDir('fillgate-bench-');
  try {
    const commitFullPerSec = commitRate(dir, 2000, 1);
    const commitBatch100PerSec = commitRate(dir, 10_000, 100);
    const keys = makeKeys();
    const backlog = opts.records ?? 100_000;
    // The shipped upload defaults (batch 200, backoff 0.5-5 s, idle 2 s), as a station runs (issue 14: "the bench flatters").
    const r = await runOutage({ dir, keys, records: backlog, threads: 2, shipped: true });
    const exactlyOnceInOrder = receivedChainProblems(`${dir}/rx.db`, 'ST01', backlog, keys.publicKey).length === 0;
    const localChainOk = verifyRecords(`${dir}/gw.db`, keys.publicKey).ok;
    const result: Result = {
      commitFullPerSec,
      commitBatch100PerSec,
      backlog,
      catchUpPerSec: r.catchUpPerSec,
      catchUpSeconds: r.catchUpMs / 1000,
      exactlyOnceInOrder,
      localChainOk,
      goals: { catchUpAtLeast5000: r.catchUpPerSec >= 5000, backlogUnderAMinute: r.catchUpMs < 60_000 },
    };
    if (opts.print) {
      console.log('records: durable commits (WAL, synchronous=FULL)');
      console.log(`  one record per transaction   ${commitFullPerSec.toFixed(0).padStart(7)} records/s  (signed, chained)`);
      console.log(`  100 records per transaction  ${commitBatch100PerSec.toFixed(0).padStart(7)} records/s`);
      console.log(`records: catch-up after an outage of ${backlog} records (shipped upload defaults; receiver in its own process, 2 verify threads, loopback)`);
      console.log(`  ${result.catchUpPerSec.toFixed(0)} records/s acknowledged, backlog cleared in ${result.catchUpSeconds.toFixed(1)} s`);
      console.log(`  goal ≥ 5,000/s: ${result.goals.catchUpAtLeast5000 ? 'met' : 'NOT met'}; goal < 60 s: ${result.goals.backlogUnderAMinute ? 'met' : 'NOT met'}`);
      console.log(`  receiver holds each record once, in order, chain and signatures verified: ${exactlyOnceInOrder}; local chain verifies: ${localChainOk}`);
    }
    return result;
  } finally {
    cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const json = process.argv.includes('--json');
  const n = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 100_000);
  const r = await run({ records: n, print: !json });
  if (json) console.log(JSON.stringify(r));
}
