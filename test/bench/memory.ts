/**
 * Memory, start-up and event-loop lag of `fillgate start` as its own process (issue 14 points 4
 * and 6): the simulator (this process) with N posts whose scales and one relay module share one
 * Modbus TCP bus (test/e2e/soak-station.ts), the gateway started through the `fillgate` bin (the
 * compiled build when dist/ is current), and one operator per post placing a fresh cylinder,
 * scanning, badging (auto start), waiting for the fill and taking it away, for the whole run.
 *
 * Measured from outside: start to the first scale read on the simulator's wire, RSS of the
 * gateway process (/proc), its V8 heap and event-loop lag (GET /metrics, scraped like
 * Prometheus), fills done. Heap snapshots on request (MEMBENCH_SNAPSHOTS=1: at 1/3 and at the
 * end, written into MEMBENCH_DIR) for test/bench/heap-top.ts.
 *
 * Usage: node --import tsx test/bench/memory.ts [--posts 32] [--minutes 2] [--sources]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import type { WireEntry } from '../../sim/wire/wire-log.ts';
import { serviceEnv } from './service-env.ts';
import { postIds, RELAY_UNIT, soakCylinders, soakGatewayConfig, soakStationDoc, TARE_KG } from '../e2e/soak-station.ts';

const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'gateway/cli/fillgate.js');
const IDLE = new Set(['idle', 'closedOut', 'aborted']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface MemoryOptions {
  posts?: number;
  durationMs?: number;
  sampleEveryMs?: number;
  /** Run the TypeScript sources through tsx instead of dist/. */
  sources?: boolean;
  snapshots?: boolean;
  /** Node flags for the gateway process (e.g. --max-semi-space-size=4, --cpu-prof). */
  nodeFlags?: string[];
  print?: boolean;
}

export interface MemorySample {
  s: number;
  rssMb: number;
  heapMb?: number;
  /** Memory outside V8's heap that V8 knows of (Buffers, ArrayBuffers): native growth that is not this is SQLite, libuv or malloc's. */
  externalMb?: number;
  fills: number;
  lagP99Ms?: number;
  lagMaxMs?: number;
}

export async function run(o: MemoryOptions = {}): Promise<Record<string, unknown>> {
  const posts = o.posts ?? 32;
  const durationMs = o.durationMs ?? 120_000;
  const every = o.sampleEveryMs ?? 10_000;
  const print = o.print ? console.log : () => undefined;
  const dir = process.env.MEMBENCH_DIR ?? mkdtempSync(join(tmpdir(), 'fg-membench-'));
  mkdirSync(dir, { recursive: true });
  const st = { bus: 'modbus-tcp' as const, posts, timeoutMs: 200, retries: 4, flowKgPerMin: 30 };
  const doc = soakStationDoc(st) as { posts: { scale: { unitId: number } }[] };
  // Past 19 posts the scales' unit ids would reach the relay module's (20): skip it.
  doc.posts.forEach((p, i) => (p.scale.unitId = i + 1 >= RELAY_UNIT ? i + 2 : i + 1));
  const sim: Simulator = await startSimulator(doc as never, { portsFromZero: true, noWatchdog: true });
  const config = soakGatewayConfig(st, sim.deviceEndpoints(), join(dir, 'data'));
  const file = join(dir, 'gateway.yaml');
  // As a station runs it (examples/gateway.yaml): info logs, link frames at warn.
  writeFileSync(file, stringify({ ...config, log: { level: 'info', levels: { link: 'warn' } } }));
  const { csv, codes } = soakCylinders(Math.max(2000, Math.ceil((posts * durationMs) / 4000)));
  writeFileSync(join(dir, 'cylinders.csv'), csv);
  writeFileSync(join(dir, 'operators.csv'), 'badge,name,roles,certificateNo,certificateExpires\nB1001,Filler,filler;checker,TS-P-41-2023-0001,2030-06-30\nB1002,Checker,checker,TS-P-41-2023-0002,2030-06-30\nB1009,Supervisor,supervisor,,\n');
  // As the shipped systemd unit runs it (NODE_OPTIONS, MALLOC_ARENA_MAX), the import included.
  const env = { ...process.env, ...serviceEnv(), ...(o.sources ? { FILLGATE_SOURCES: '1' } : {}) };
  for (const what of ['cylinders', 'operators']) {
    const r = spawnSync(process.execPath, [bin, 'registry', 'import', '--config', file, what, join(dir, `${what}.csv`)], { cwd: root, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`registry import ${what}: ${r.stdout}${r.stderr}`);
  }

  let firstRead: number | undefined;
  let t0 = 0;
  sim.wire.onEntry = (e: WireEntry) => {
    if (firstRead === undefined && t0 > 0 && e.kind === 'request' && e.unitId !== RELAY_UNIT && (e.fc === 3 || e.fc === 4)) firstRead = e.t;
  };
  t0 = performance.now();
  const args = [...(o.nodeFlags ?? []), ...(o.snapshots ? ['--heapsnapshot-signal=SIGUSR2'] : []), `--diagnostic-dir=${dir}`, bin, 'start', '--config', file];
  const proc: ChildProcess = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const reap = () => proc.kill('SIGKILL');
  process.once('exit', reap);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`gateway did not start: ${out.slice(-2000)}`)), 60_000);
    const on = (d: Buffer) => {
      out += d;
      const m = /"url":"(http:[^"]+)".*status and metrics served/.exec(out);
      if (m) (clearTimeout(t), resolve(m[1]!));
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out.slice(-2000)}`)));
  });
  const servedMs = performance.now() - t0;
  // Keep only the tail of the output (a line per fill would otherwise grow this process); all of it
  // in MEMBENCH_DIR/gateway.log when a directory was given (e.g. with MEMBENCH_NODE_FLAGS=--trace-gc).
  const logFile = process.env.MEMBENCH_DIR ? createWriteStream(join(dir, 'gateway.log')) : undefined;
  const keep = (d: Buffer) => {
    logFile?.write(d);
    out = (out + d).slice(-20_000);
  };
  proc.stdout!.removeAllListeners('data').on('data', keep);
  proc.stderr!.removeAllListeners('data').on('data', keep);

  const phases = new Map<string, { phase: string; grossKg?: number }>();
  let fills = 0;
  let stop = false;
  const pollStatus = async () => {
    while (!stop) {
      try {
        const s = (await (await fetch(`${url}/status`)).json()) as { posts: { id: string; phase: string; grossKg?: number }[] };
        for (const p of s.posts) phases.set(p.id, { phase: p.phase, grossKg: p.grossKg });
      } catch {
        /* between samples */
      }
      await sleep(250);
    }
  };
  const until = async (fn: () => boolean, ms: number) => {
    const end = performance.now() + ms;
    while (!fn()) {
      if (performance.now() > end || stop) return false;
      await sleep(50);
    }
    return true;
  };
  let nextCode = 0;
  async function operate(post: string): Promise<void> {
    const ph = () => phases.get(post)?.phase ?? 'none';
    const gross = () => phases.get(post)?.grossKg;
    while (!stop && nextCode < codes.length) {
      if (!(await until(() => IDLE.has(ph()) || ph() === 'fault', 10_000))) {
        sim.remove(post);
        continue;
      }
      if (ph() === 'fault') {
        sim.remove(post);
        await until(() => (gross() ?? 99) < 1, 3000);
        sim.badge(post, 'B1009');
        await until(() => ph() !== 'fault', 1500);
        continue;
      }
      await until(() => (gross() ?? 0) < 1, 3000);
      const code = codes[nextCode++]!;
      try {
        sim.place(post, code, { tareKg: TARE_KG, residualKg: 0.1 + 0.25 * Math.random() });
      } catch {
        sim.remove(post);
        continue;
      }
      await until(() => (gross() ?? 0) > 1, 3000);
      sim.scan(post, code);
      if (await until(() => ['verified', 'cylinderReady'].includes(ph()), 4000)) {
        sim.badge(post, 'B1001');
        if ((await until(() => ph() === 'checked' || ph() === 'fault' || IDLE.has(ph()), 30_000)) && ph() === 'checked') {
          fills++;
          // Another person signs the post-fill check (else the cylinder leaves unchecked: an exception).
          sim.badge(post, 'B1002');
          await until(() => ph() !== 'checked', 2000);
        }
      }
      sim.remove(post);
      await until(() => IDLE.has(ph()) || ph() === 'fault', 5000);
    }
  }

  const metric = (text: string, name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : undefined;
  };
  const rssMb = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  };
  const samples: MemorySample[] = [];
  const lags: { p99: number; max: number }[] = [];
  const tRun = performance.now();
  const sample = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const p99 = metric(text, 'fillgate_event_loop_lag_seconds{quantile="0.99"}');
    const max = metric(text, 'fillgate_event_loop_lag_seconds{quantile="1"}');
    const heap = metric(text, 'nodejs_heap_size_used_bytes');
    const ext = metric(text, 'nodejs_external_memory_bytes');
    const s: MemorySample = { s: Math.round((performance.now() - tRun) / 1000), rssMb: round(rssMb()), fills, ...(heap !== undefined ? { heapMb: round(heap / 2 ** 20) } : {}), ...(ext !== undefined ? { externalMb: round(ext / 2 ** 20) } : {}) };
    if (p99 !== undefined && max !== undefined) {
      s.lagP99Ms = round(p99 * 1000);
      s.lagMaxMs = round(max * 1000);
      lags.push({ p99: s.lagP99Ms, max: s.lagMaxMs });
    }
    samples.push(s);
    print(`  ${String(s.s).padStart(5)} s  RSS ${s.rssMb.toFixed(1)} MB  heap ${s.heapMb?.toFixed(1) ?? '?'} MB  external ${s.externalMb?.toFixed(1) ?? '?'} MB  fills ${fills}  lag p99 ${s.lagP99Ms ?? '?'} ms max ${s.lagMaxMs ?? '?'} ms  load ${loadavg()[0]!.toFixed(1)}`);
  };
  const operators = postIds(posts).map((p) => operate(p));
  const poller = pollStatus();
  let snapped = 0;
  while (performance.now() - tRun < durationMs) {
    await sleep(every);
    await sample().catch((err) => print(`  sample failed: ${(err as Error).message}`));
    if (o.snapshots && snapped === 0 && performance.now() - tRun > durationMs / 3) (snapped++, proc.kill('SIGUSR2'));
  }
  // Where the RSS is, at the end: V8's spaces (committed), memory outside the V8 heap.
  const breakdown: Record<string, number> = {};
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const l of text.split('\n')) {
      const m = /^nodejs_heap_space_size_total_bytes\{space="(\w+)"\} (\d+)/.exec(l) ?? /^(nodejs_external_memory_bytes|nodejs_heap_size_total_bytes) (\d+)/.exec(l);
      if (m) breakdown[m[1]!] = round(Number(m[2]) / 2 ** 20);
    }
    print(`  at the end (MB): ${JSON.stringify(breakdown)}`);
  } catch {
    /* reported without */
  }
  if (o.snapshots) {
    proc.kill('SIGUSR2');
    await sleep(15_000);
  }
  stop = true;
  await Promise.all([...operators, poller]);
  proc.kill('SIGTERM');
  await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)));
  process.off('exit', reap);
  logFile?.end();
  await sim.close();
  if (!process.env.MEMBENCH_DIR) rmSync(dir, { recursive: true, force: true });

  // Slope over the second half, after start-up and the first fills have settled the heap.
  const half = samples.filter((s) => s.s >= (durationMs / 1000) / 2);
  const slope = half.length >= 2 ? linSlope(half.map((s) => [s.s / 60, s.rssMb])) : NaN;
  const heapSlope = half.length >= 2 && half.every((s) => s.heapMb !== undefined) ? linSlope(half.map((s) => [s.s / 60, s.heapMb!])) : NaN;
  const firstReadMs = firstRead !== undefined ? Math.round(firstRead - t0) : undefined;
  const result = {
    posts,
    mode: o.sources ? 'sources (tsx)' : 'bin (dist/ when current)',
    nodeFlags: o.nodeFlags ?? [],
    serviceEnv: serviceEnv(),
    minutes: round(durationMs / 60_000),
    startToFirstScaleReadMs: firstReadMs,
    startToHttpServedMs: Math.round(servedMs),
    rssStartMb: samples[0]?.rssMb,
    rssEndMb: samples.at(-1)?.rssMb,
    rssMaxMb: Math.max(...samples.map((s) => s.rssMb)),
    rssSlopeMbPerMin: round(slope),
    heapSlopeMbPerMin: round(heapSlope),
    fills,
    lagP99MaxOfWindowsMs: lags.length ? Math.max(...lags.map((l) => l.p99)) : undefined,
    lagP99MedianOfWindowsMs: lags.length ? median(lags.map((l) => l.p99)) : undefined,
    lagMaxMs: lags.length ? Math.max(...lags.map((l) => l.max)) : undefined,
    loadAvg1m: round(loadavg()[0]!),
    endBreakdownMb: breakdown,
    goals: 'RSS <= 100 MB at 32 posts, flat; start to first scale read <= 1 s; lag p99 < 5 ms, max < 50 ms',
    samples,
  };
  print(`  start to first scale read ${firstReadMs} ms (http served ${Math.round(servedMs)} ms); RSS start ${result.rssStartMb} MB, end ${result.rssEndMb} MB, max ${result.rssMaxMb} MB, slope (2nd half) ${result.rssSlopeMbPerMin} MB/min, heap slope ${result.heapSlopeMbPerMin} MB/min`);
  print(`  fills ${fills}; event-loop lag p99 (worst 10 s window) ${result.lagP99MaxOfWindowsMs} ms, median window p99 ${result.lagP99MedianOfWindowsMs} ms, max ${result.lagMaxMs} ms; load average ${result.loadAvg1m} on ${(await import('node:os')).cpus().length} cores`);
  return result;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function linSlope(pts: [number, number][]): number {
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n;
  const my = pts.reduce((a, p) => a + p[1], 0) / n;
  const num = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const den = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = process.argv.slice(2);
  const num = (k: string, d: number) => (a.includes(k) ? Number(a[a.indexOf(k) + 1]) : d);
  const r = await run({ posts: num('--posts', 32), durationMs: num('--minutes', 2) * 60_000, sampleEveryMs: num('--every', 10) * 1000, sources: a.includes('--sources'), snapshots: process.env.MEMBENCH_SNAPSHOTS === '1', nodeFlags: process.env.MEMBENCH_NODE_FLAGS?.split(' ').filter(Boolean), print: true });
  if (a.includes('--json')) console.log(JSON.stringify(r));
  process.exit(0);
}
