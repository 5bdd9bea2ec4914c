/**
 * Issue 14 point 3: 32 posts (scales at 10 Hz, one 32-channel relay module
 * with feedback and keep-alives) on ONE Modbus TCP connection to the
 * simulator, with fills at every post. Shared by test/e2e/bus-rate.test.ts
 * (a correctness test: no STALE_WEIGHT trip) and test/bench/bus-rate.ts (the
 * figures: exchanges/s, utilisation, the share of feedback and keep-alive
 * exchanges, before and after sharing them).
 *
 * The figures come from the gateway's side (every attempt its bus put on the
 * wire); the simulator runs in this process unless `childSim`.
 *
 * `shared: false` is the old way (a feedback read and an FC05 keep-alive per
 * valve, no idle slowdown); `shared: true` reads the module's feedback in one
 * FC02, keeps it alive with one FC15, and polls empty idle scales at 2 Hz.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../sim/index.ts';
import type { GatewayConfig } from '../../gateway/config/config.ts';
import type { SimEndpoints } from '../../gateway/cli/sim-wiring.ts';
import { InProcessGateway, type GatewayTrace } from './soak-gateway.ts';
import type { ModbusExchange } from '../../protocols/modbus/bus.ts';
import { RELAY_UNIT, TARE_KG, postIds, soakCylinders, soakGatewayConfig, soakStationDoc } from './soak-station.ts';

export interface BusRateOptions {
  posts: number;
  durationMs: number;
  shared: boolean;
  /** Modbus TCP requests in flight (buses.shared.maxInFlight); default 1. */
  maxInFlight?: number;
  /** Time at the end with every post idle and empty (idle pacing shows there); default 0. */
  idleTailMs?: number;
  /**
   * Run the simulator as its own process (sim/main.ts, driven over its control API), so the
   * gateway's event loop is its own, as on a station; default false (in this process: on a
   * crowded machine every exchange with a child waits for the scheduler twice).
   */
  childSim?: boolean;
  /** fill.staleAfterPolls; default 3, the shipped value (300 ms at 10 Hz). */
  staleAfterPolls?: number;
}

/** What the operators do to the simulator, in this process or through its control API. */
interface SimHandle {
  endpoints: SimEndpoints;
  place(post: string, code: string, o: { tareKg: number; residualKg: number }): Promise<void>;
  remove(post: string): Promise<void>;
  scan(post: string, code: string): Promise<void>;
  badge(post: string, badge: string): Promise<void>;
  close(): Promise<void>;
}

async function inProcessSim(doc: unknown): Promise<SimHandle> {
  const sim = await startSimulator(doc as never, { portsFromZero: true, noWatchdog: true });
  return {
    endpoints: sim.deviceEndpoints(),
    place: async (p, c, o) => void sim.place(p, c, o),
    remove: async (p) => void sim.remove(p),
    scan: async (p, c) => void sim.scan(p, c),
    badge: async (p, b) => void sim.badge(p, b),
    close: () => sim.close(),
  };
}

/** `fillgate sim` as a child process (--json prints its control URL first). */
async function childProcessSim(doc: unknown, dir: string): Promise<SimHandle> {
  const file = join(dir, 'station.json');
  writeFileSync(file, JSON.stringify(doc));
  const root = new URL('../..', import.meta.url).pathname;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(root, 'sim/main.ts'), '--station', file, '--ports-from-zero', '--json', '--no-watchdog'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    cwd: root,
  });
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`simulator exited (${code}) before it printed its endpoints`)));
  });
  const control = (JSON.parse(first) as { control: string }).control;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${control}${path}`, { method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`simulator ${method} ${path}: ${JSON.stringify(json)}`);
    return json;
  };
  const endpoints = (await call('GET', '/endpoints')).devices as SimEndpoints;
  return {
    endpoints,
    place: async (p, code, o) => void (await call('POST', `/posts/${p}/place`, { code, ...o })),
    remove: async (p) => void (await call('POST', `/posts/${p}/remove`).catch(() => undefined)),
    scan: async (p, code) => void (await call('POST', `/posts/${p}/scan`, { code })),
    badge: async (p, badge) => void (await call('POST', `/posts/${p}/badge`, { badge })),
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export interface BusRateReport {
  posts: number;
  shared: boolean;
  maxInFlight: number;
  seconds: number;
  fills: number;
  records: number;
  outcomes: Record<string, number>;
  /** Trips STALE_WEIGHT in any record. */
  staleTrips: number;
  /** Requests the gateway put on the wire per second (its bus's exchanges), by kind. */
  exchangesPerSec: number;
  byKind: { scale: number; feedback: number; keepAliveOrValve: number; other: number };
  /** Share of relay feedback reads and coil writes among all requests. */
  relayShare: number;
  /** The gateway's own figures for the bus at the end of the busy part. */
  utilisation: number;
  queueWaitP99Ms: number;
  inFlightMax: number;
  /** Requests/s over the idle tail (0 when no tail). */
  idleExchangesPerSec: number;
  /** The gateway's event-loop lag over its last window (ms): the simulator shares this process. */
  loopLagP99Ms: number;
  loopLagMaxMs: number;
  /** The machine's 1-minute load average at the end (the figures depend on it). */
  loadAverage: number;
}

const IDLE = new Set(['idle', 'closedOut', 'aborted']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configFor(o: BusRateOptions, endpoints: SimEndpoints, dir: string): GatewayConfig {
  const cfg = soakGatewayConfig({ bus: 'modbus-tcp', posts: o.posts, timeoutMs: 300, retries: 1 }, endpoints, join(dir, 'data'));
  const bus = cfg.buses.shared!;
  bus.maxInFlight = o.maxInFlight ?? 1;
  if (o.shared) bus.relayModules = [{ unit: RELAY_UNIT, writeMultipleCoils: true, batchFeedback: true }];
  else bus.relayModules = [{ unit: RELAY_UNIT, writeMultipleCoils: false, batchFeedback: false }];
  for (const p of cfg.posts) if (p.scale.kind === 'modbus' && o.shared) p.scale.idlePollHz = 2;
  // The shipped stale limit by default: 3 polls at 10 Hz = 300 ms.
  cfg.fill.staleAfterPolls = o.staleAfterPolls ?? 3;
  return cfg;
}

export async function runBusRate(o: BusRateOptions): Promise<BusRateReport> {
  // Records on tmpfs where there is one: this measures the bus, not the disk's fsync under the other jobs' load.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'fg-busrate-'));
  const st = { bus: 'modbus-tcp' as const, posts: o.posts, timeoutMs: 300, retries: 1 };
  const doc = soakStationDoc(st);
  const sim = o.childSim ? await childProcessSim(doc, dir) : await inProcessSim(doc);
  const posts = postIds(o.posts);
  const { csv, codes } = soakCylinders(Math.max(200, o.posts * Math.ceil(o.durationMs / 1500)));
  const counts = { scale: 0, feedback: 0, keepAliveOrValve: 0, other: 0 };
  let counting = true;
  let idleCount = 0;
  /** Every attempt the gateway put on the wire, by what it was for (ModbusBus.exchanges). */
  const onExchange = (x: ModbusExchange) => {
    if (!counting) {
      idleCount++;
      return;
    }
    const fc = Number(/^FC(\d+)/.exec(x.describe)?.[1]);
    if (x.unitId === RELAY_UNIT) {
      if (fc === 2 || fc === 1) counts.feedback++;
      else if (fc === 5 || fc === 15) counts.keepAliveOrValve++;
      else counts.other++;
    } else if (fc === 3 || fc === 4) counts.scale++;
    else counts.other++;
  };
  const trace: GatewayTrace = { decisions: [], opens: 0, tx: [], linkDown: [], wireOnly: [], records: [] };
  const gw = new InProcessGateway(configFor(o, sim.endpoints, dir), trace, { bus: 'shared', unitId: RELAY_UNIT, framing: 'mbap' });
  let nextCode = 0;
  const t0 = performance.now();
  const deadline = t0 + o.durationMs;
  const enough = () => performance.now() > deadline || nextCode >= codes.length;
  const until = async (fn: () => boolean, ms: number) => {
    const end = performance.now() + ms;
    while (!fn()) {
      if (performance.now() > end) return false;
      await sleep(25);
    }
    return true;
  };
  try {
    await gw.start((s) => {
      const r = s.registry.importCylinders(csv, 'csv');
      const ops = s.registry.importOperators('badge,name,roles,certificateNo,certificateExpires\nB1001,Filler,filler;checker,TS-P-41-2023-0001,2030-06-30\nB1009,Supervisor,supervisor,,\n', 'csv');
      if (!r.applied || !ops.applied) throw new Error('bus-rate registry import failed');
    });
    gw.station!.devices.buses.get('shared')!.exchanges.on(onExchange);
    const started = performance.now();
    /** One operator per post: place, scan, badge (auto start), wait for the fill, take it away. */
    const operate = async (post: string) => {
      const ph = () => gw.phase(post);
      while (!enough()) {
        if (!(await until(() => IDLE.has(ph()) || ph() === 'fault', 10_000))) break;
        if (ph() === 'fault') {
          await sim.remove(post);
          await until(() => (gw.grossKg(post) ?? 99) < 1, 3000);
          await sim.badge(post, 'B1009');
          await until(() => ph() !== 'fault', 1500);
          continue;
        }
        await until(() => (gw.grossKg(post) ?? 0) < 1, 3000);
        const code = codes[nextCode++]!;
        try {
          await sim.place(post, code, { tareKg: TARE_KG, residualKg: 0.2 });
        } catch {
          await sim.remove(post);
          continue;
        }
        await until(() => (gw.grossKg(post) ?? 0) > 1, 3000);
        await sim.scan(post, code);
        const ready = await until(() => ['verified', 'cylinderReady'].includes(ph()) || ph() === 'fault', 4000);
        if (ready && ph() !== 'fault') {
          await sim.badge(post, 'B1001');
          await until(() => ph() === 'checked' || ph() === 'fault' || IDLE.has(ph()), 20_000);
        }
        await sim.remove(post);
        await until(() => IDLE.has(ph()) || ph() === 'fault', 5000);
      }
    };
    await Promise.all(posts.map((p) => operate(p)));
    const seconds = (performance.now() - started) / 1000;
    const bus = gw.station!.devices.buses.get('shared')!;
    const load = bus.getLoad();
    const lag = gw.station!.loopLag.snapshot();
    counting = false;
    let idleExchangesPerSec = 0;
    if (o.idleTailMs) {
      // Every post idle and empty (a post left in fault is reset, as an operator would): then let
      // the scales drop to their idle pace first.
      await Promise.all(
        posts.map(async (post) => {
          await sim.remove(post);
          if (gw.phase(post) !== 'fault') return;
          await until(() => (gw.grossKg(post) ?? 99) < 1, 3000);
          await sim.badge(post, 'B1009');
        }),
      );
      await sleep(1500);
      idleCount = 0;
      const from = performance.now();
      await sleep(o.idleTailMs);
      idleExchangesPerSec = idleCount / ((performance.now() - from) / 1000);
    }
    const total = counts.scale + counts.feedback + counts.keepAliveOrValve + counts.other;
    const outcomes: Record<string, number> = {};
    for (const r of trace.records) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    return {
      posts: o.posts,
      shared: o.shared,
      maxInFlight: o.maxInFlight ?? 1,
      seconds: Math.round(seconds * 10) / 10,
      fills: trace.opens,
      records: trace.records.length,
      outcomes,
      staleTrips: trace.records.filter((r) => (r.trips ?? []).some((t) => t.code === 'STALE_WEIGHT')).length,
      exchangesPerSec: Math.round(total / seconds),
      byKind: counts,
      relayShare: total ? Math.round(((counts.feedback + counts.keepAliveOrValve) / total) * 1000) / 1000 : 0,
      utilisation: Math.round(load.utilisation * 1000) / 1000,
      queueWaitP99Ms: load.queueWaitP99Ms,
      inFlightMax: load.inFlightMax,
      idleExchangesPerSec: Math.round(idleExchangesPerSec),
      loopLagP99Ms: lag.p99Ms,
      loopLagMaxMs: lag.worstMs,
      loadAverage: Math.round(loadavg()[0]! * 10) / 10,
    };
  } finally {
    await gw.stop().catch(() => undefined);
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
