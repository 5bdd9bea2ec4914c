import { runBusRate } from '/work/wt/bus/test/e2e/bus-rate.ts';
const shared = process.argv[2] === 'shared';
const r = await runBusRate({ posts: 32, durationMs: Number(process.argv[3] ?? 10000), shared, maxInFlight: Number(process.argv[4] ?? 1), idleTailMs: 2000 });
console.log(JSON.stringify(r));
process.exit(0);
