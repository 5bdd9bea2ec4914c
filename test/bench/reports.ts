/**
 * Benchmark (issue 10 point 10): the inspector's reports on a month of one busy
 * station (~10,000 records, a file database like a receiver's), with a second
 * station sharing some cylinder codes, and an event chain. Prints each report's
 * time and the longest stall of the receiver's event loop while it ran (the
 * reports read 500 records per page and yield between pages).
 * Run: `node --import tsx test/bench/reports.ts [records] [--json]` (or through `npm run bench`).
 */
import { join } from 'node:path';
import { openReceiverStore } from '../../gateway/receiver/store.ts';
import { alarmsReport, cylinderReport, exceptionsReport, personsReport, summaryReport } from '../../gateway/receiver/reports.ts';
import { makeKeys, tempDir } from '../gateway/records/fixtures.ts';
import { insertEvents, MIN, signedChain, T0, type Spec } from '../gateway/receiver/report-fixtures.ts';

export interface ReportBench {
  records: number;
  ms: Record<string, number>;
  maxLoopStallMs: Record<string, number>;
  exceptions: number;
  goals: { eachUnder2s: boolean; loopStallUnder100ms: boolean };
}

/** Longest gap between 1 ms timer ticks while `fn` runs: how long the event loop was held. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; stall: number; value: T }> {
  let last = performance.now();
  let stall = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 1);
  const t = performance.now();
  const value = await fn();
  const ms = performance.now() - t;
  await new Promise((r) => setTimeout(r, 2));
  clearInterval(tick);
  stall = Math.max(stall, performance.now() - last);
  return { ms, stall, value };
}

export async function run(opts: { records?: number; print?: boolean } = {}): Promise<ReportBench> {
  const n = opts.records ?? 10_000;
  const print = opts.print ?? true;
  const tmp = tempDir('fg-bench-reports-');
  const a = makeKeys();
  const b = makeKeys();
  try {
    let now = T0;
    const store = await openReceiverStore({ dbPath: join(tmp.dir, 'rx.db'), stations: { ST01: a.publicKeyPem, ST02: b.publicKeyPem }, verifyThreads: 2, now: () => now });
    // A month: one record every ~4 min, 1 in 50 a breach of some kind, codes cycling over 3,000 cylinders.
    const spacing = (30 * 24 * 60) / n;
    const spec = (i: number): Spec => {
      const set: Record<string, unknown> = { cylinderCode: `C${i % 3000}` };
      if (i % 50 === 1) Object.assign(set, { checker: undefined, postFillCheck: undefined });
      if (i % 97 === 2) Object.assign(set, { outcome: 'refused', refusals: [{ code: 'SCRAPPED' }], startedAt: undefined, netFilledG: undefined });
      if (i % 211 === 3) Object.assign(set, { outcome: 'overfilled', mustDecant: true, toleranceState: 'over' });
      return { min: i * spacing, set };
    };
    const t0 = performance.now();
    const main = signedChain(a.privateKey, 'ST01', Array.from({ length: n }, (_, i) => spec(i)));
    const second = signedChain(b.privateKey, 'ST02', Array.from({ length: Math.round(n / 5) }, (_, i) => ({ min: i * spacing * 5 + 7, set: { cylinderCode: `C${(i * 7) % 3000}` } })), 'UNIT-YY-02');
    // Uploaded promptly (batches of 10, received 5 s after the last one was made), except every 300th batch, 2 h late.
    for (const chain of [main, second]) {
      for (let i = 0; i < chain.length; i += 10) {
        const batch = chain.slice(i, i + 10);
        now = Date.parse(batch[batch.length - 1].recordedAt) + (i % 3000 === 0 ? 2 * 3_600_000 : 5_000);
        await store.ingest(batch);
      }
    }
    await insertEvents(store, a.privateKey, 'ST01', Array.from({ length: 300 }, (_, i) => ({ min: i * 140, kind: i % 2 ? 'alarm.cleared' : 'alarm.raised', subject: 'ld-P1', reason: 'LEAK' })));
    if (print) console.log(`set-up: ${n} + ${second.length} records signed and received in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const src = store.reportSource();
    const q = { station: 'ST01', fromMs: T0, toMs: T0 + 31 * 24 * 60 * MIN };
    const ms: Record<string, number> = {};
    const maxLoopStallMs: Record<string, number> = {};
    let exceptions = 0;
    const runs: [string, () => Promise<unknown>][] = [
      ['summary', () => summaryReport(src, q)],
      ['exceptions', async () => (exceptions = (await exceptionsReport(src, q)).exceptions.length)],
      ['persons', () => personsReport(src, q)],
      ['alarms', () => alarmsReport(src, q)],
      ['cylinder', () => cylinderReport(src, 'C7')],
    ];
    for (const [name, fn] of runs) {
      await fn(); // warm the statement cache and the page cache
      const r = await timed(fn);
      ms[name] = Math.round(r.ms);
      maxLoopStallMs[name] = Math.round(r.stall);
      if (print) console.log(`${name.padEnd(11)} ${String(ms[name]).padStart(5)} ms   longest event-loop stall ${String(maxLoopStallMs[name]).padStart(4)} ms`);
    }
    if (print) console.log(`exceptions listed: ${exceptions} (goal: each report < 2 s, no stall ≥ 100 ms)`);
    await store.close();
    const result = {
      records: n, ms, maxLoopStallMs, exceptions,
      goals: { eachUnder2s: Object.values(ms).every((v) => v < 2000), loopStallUnder100ms: Object.values(maxLoopStallMs).every((v) => v < 100) },
    };
    return result;
  } finally {
    tmp.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const json = process.argv.includes('--json');
  const n = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 10_000);
  const r = await run({ records: n, print: !json });
  if (json) console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
