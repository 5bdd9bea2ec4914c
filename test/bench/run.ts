/**
 * `npm run bench [-- --json] [-- only ...]`: every benchmark, figures printed (and
 * as one JSON document with --json). Goals are printed beside the figures; a
 * benchmark never fails the test suite.
 */
const args = process.argv.slice(2);
const json = args.includes('--json');
const only = args.filter((a) => !a.startsWith('--'));
const want = (name: string) => only.length === 0 || only.includes(name);
const results: Record<string, unknown> = {};
const print = console.log;
// With --json, the benchmarks' own printing is silenced so stdout is one JSON document.
if (json) console.log = () => undefined;
const log = json ? () => undefined : print;

async function section(name: string, fn: () => Promise<unknown>): Promise<void> {
  if (!want(name)) return;
  log(`\n=== ${name} ===`);
  const t0 = performance.now();
  try {
    results[name] = await fn();
  } catch (err) {
    results[name] = { error: (err as Error).message };
    console.error(`${name} failed: ${(err as Error).stack}`);
  }
  log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

await section('fill-accuracy', async () => (await import('./fill-accuracy.ts')).run({ print: !json }));
await section('cutoff-latency', async () => (await import('./cutoff-latency.ts')).run({ print: !json }));
await section('cutoff-path', async () => (await import('./cutoff-path.ts')).run({ print: !json, seconds: 30 }));
await section('records', async () => (await import('./records.ts')).run({ print: !json }));
await section('reports', async () => (await import('./reports.ts')).run({ print: !json }));
await section('parsers', async () => (await import('./parsers.ts')).run({ print: !json }));
await section('event-loop', async () => (await import('./event-loop.ts')).run({ print: !json }));
await section('receiver', async () => (await import('./receiver.ts')).run({ print: !json }));
// Devices in their own process, a real SQLite file, shipped defaults; medians of 5 alternating runs (issue 14 point 5).
await section('mqtt', async () => (await import('./mqtt.ts')).runMqttBench(8000, 5));
// Issue 14 point 3: 32 posts on one Modbus TCP connection, before and after sharing the relay module's requests (~80 s).
await section('bus-rate', async () => (await import('./bus-rate.ts')).run({ print: !json }));
// The long valve soak (issue 9 point 6): ~25 min for 2000 fills; alone: `npm run bench -- valve-soak` (VALVE_SOAK_FILLS=n).
await section('valve-soak', async () => (await import('./valve-soak.ts')).run({ print: !json }));

// The kill soak (issue 13): 30 SIGKILLs of a child-process gateway during fills at 2 posts, ~6 min; alone: `npm run bench -- kill-soak` (KILL_SOAK_KILLS=n).
// Issue 14 points 4 and 6: fillgate start as its own process at 32 posts (BENCH_MEMORY_MINUTES, default 3).
await section('memory', async () => (await import('./memory.ts')).run({ posts: 32, durationMs: Number(process.env.BENCH_MEMORY_MINUTES ?? 3) * 60_000, print: !json }));

await section('kill-soak', async () => (await import('./kill-soak.ts')).run({ print: !json }));

// Outside-in (issue 14 point 1): gateway and simulator as their own processes, 32 posts on one Modbus TCP connection,
// fillgate beside a naive fixed cut-off controller, ~4 min; alone: `npm run bench -- outside-in`
// (OUTSIDE_IN_POSTS=1,8,32,64,128, OUTSIDE_IN_FILLS=1024 for the run).
await section('outside-in', async () => (await import('./outside-in.ts')).run({ print: !json }));

if (json) print(JSON.stringify(results, null, 2));
process.exit(0);
