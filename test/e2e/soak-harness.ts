/**
 * The valve soak (issue 9 point 6), shared by test/e2e/valve-soak.test.ts
 * (short) and test/bench/valve-soak.ts (long): 8 posts fill small cylinders
 * on one shared Modbus bus while a seeded chaos plan makes units slow, deaf,
 * garbled, drops the link and restarts the gateway; then the simulator's wire
 * log is held against the gateway's valve decisions (soak-check.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, mulberry32, type Simulator } from '../../sim/index.ts';
import type { WireEntry } from '../../sim/wire/wire-log.ts';
import { checkInvariant, percentile, type BusRequest, type CheckResult, type CoilWriteAt } from './soak-check.ts';
import { InProcessGateway, type GatewayTrace } from './soak-gateway.ts';
import { RELAY_UNIT, TARE_KG, postIds, soakCylinders, soakGatewayConfig, soakStationDoc, type SoakBus } from './soak-station.ts';
import { ChildGateway } from './soak-child.ts';

export { formatSoak, violationKinds } from './soak-report.ts';

export interface SoakOptions {
  seed: number;
  bus: SoakBus;
  /** Stop starting fills after this long (ms) or once `fills` valves were opened (in this process), whichever comes first. */
  durationMs: number;
  fills?: number;
  timeoutMs?: number;
  retries?: number;
  /** Close bound: one request timeout + wire time + this scheduling margin (ms). */
  marginMs?: number;
  /** Mean time between chaos actions (ms); 0 = no chaos. */
  chaosEveryMs?: number;
  /** Restart the in-process gateway about this often (ms); 0 = never. */
  restartEveryMs?: number;
  /** SIGKILL a child-process gateway about this often (ms) and restart it; 0 = never. */
  killEveryMs?: number;
  /** At most this many SIGKILL cycles (default unlimited). */
  maxKills?: number;
  log?: (line: string) => void;
  /** Sees everything the check is given (for digging into a violation). */
  onTrace?: (trace: GatewayTrace, rx: CoilWriteAt[]) => void;
}

export interface SoakReport extends CheckResult {
  seed: number;
  bus: SoakBus;
  seconds: number;
  /** Records written, by outcome; `fills` counts the attempts whose ON reached the wire. */
  records: number;
  outcomes: Record<string, number>;
  fills: number;
  boundMs: number;
  p50: number;
  p99: number;
  max: number;
  chaos: Record<string, number>;
  stuck: number;
  wireDropped: number;
}

const IDLE = new Set(['idle', 'closedOut', 'aborted']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const timeoutMs = o.timeoutMs ?? 200;
  const retries = o.retries ?? 4;
  const boundMs = timeoutMs + 10 + (o.marginMs ?? 400);
  const st = { bus: o.bus, timeoutMs, retries };
  // Two streams, so the chaos plan is the same whatever the operators draw meanwhile.
  const rng = mulberry32(o.seed);
  const residual = mulberry32(o.seed ^ 0x9e3779b9);
  const log = o.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'fg-soak-'));
  const sim: Simulator = await startSimulator(soakStationDoc(st) as never, { portsFromZero: true, noWatchdog: true, ptyDir: join(dir, 'pty') });
  const config = soakGatewayConfig(st, sim.deviceEndpoints(), join(dir, 'data'));
  const posts = postIds(8);
  const coils = Object.fromEntries(posts.map((p, i) => [p, i]));
  // One fresh code per placement (a filled cylinder placed again is refused at once, and would flood the run with refusals).
  const { csv, codes } = soakCylinders(Math.min(40_000, Math.max(600, 8 * (o.fills ?? 0), Math.ceil(o.durationMs / 50))));
  const trace: GatewayTrace = { decisions: [], opens: 0, tx: [], linkDown: [], wireOnly: [], records: [] };
  const rx: CoilWriteAt[] = [];
  const requests: BusRequest[] = [];
  sim.wire.onEntry = (e: WireEntry) => {
    if (e.kind !== 'request') return;
    const relay = e.unitId === RELAY_UNIT;
    if (relay && e.fc === 5) rx.push({ coil: e.address!, on: e.value === true, t: e.t });
    else if (relay && e.fc === 15) e.values!.forEach((v, i) => rx.push({ coil: e.address! + i, on: v === true, t: e.t }));
    requests.push(relay && e.fc === 5 && e.value === false ? { t: e.t, offCoil: e.address! } : { t: e.t });
  };
  const framing = o.bus === 'modbus-tcp' ? 'mbap' : 'rtu';
  const inProc = new InProcessGateway(config, trace, { bus: 'shared', unitId: RELAY_UNIT, framing });
  const child = o.killEveryMs ? new ChildGateway(config, dir, trace, posts) : undefined;
  const chaos: Record<string, number> = {};
  const count = (k: string) => (chaos[k] = (chaos[k] ?? 0) + 1);
  let gw: { phase(p: string): string; grossKg(p: string): number | undefined } = inProc;
  let nextCode = 0;
  let stuck = 0;
  const t0 = performance.now();
  const deadline = t0 + o.durationMs;
  const enough = () => performance.now() > deadline || (o.fills !== undefined && trace.opens >= o.fills) || nextCode >= codes.length;

  await inProc.start((s) => {
    const r = s.registry.importCylinders(csv, 'csv');
    const ops = s.registry.importOperators('badge,name,roles,certificateNo,certificateExpires\nB1001,Filler,filler;checker,TS-P-41-2023-0001,2030-06-30\nB1009,Supervisor,supervisor,,\n', 'csv');
    if (!r.applied || !ops.applied) throw new Error(`soak registry import failed: ${JSON.stringify([r.issues, ops.issues])}`);
  });

  const until = async (fn: () => boolean, ms: number) => {
    const end = performance.now() + ms;
    while (!fn()) {
      if (performance.now() > end) return false;
      await sleep(25);
    }
    return true;
  };

  /** One operator: place a fresh cylinder, scan, badge (auto start), wait for the fill, take it away, reset a fault. */
  async function operate(post: string): Promise<void> {
    const ph = () => gw.phase(post);
    while (!enough()) {
      if (!(await until(() => IDLE.has(ph()) || ph() === 'fault', 10_000))) {
        stuck++;
        sim.remove(post);
        continue;
      }
      if (ph() === 'fault') {
        sim.remove(post);
        await until(() => (gw.grossKg(post) ?? 99) < 1, 3000);
        sim.badge(post, 'B1009');
        await until(() => ph() !== 'fault', 1500);
        continue;
      }
      // The gateway must have seen the scale empty, or it would judge the new cylinder by the last one's weight.
      await until(() => (gw.grossKg(post) ?? 0) < 1, 3000);
      const code = codes[nextCode++]!;
      const from = trace.records.length;
      const mine = () => trace.records.slice(from).some((r) => r.cylinderCode === code);
      try {
        sim.place(post, code, { tareKg: TARE_KG, residualKg: 0.1 + 0.25 * residual() });
      } catch {
        sim.remove(post);
        continue;
      }
      await until(() => (gw.grossKg(post) ?? 0) > 1, 3000);
      sim.scan(post, code);
      const ready = await until(() => ['verified', 'cylinderReady'].includes(ph()) || mine() || ph() === 'fault', 4000);
      if (ready && !mine() && ph() !== 'fault') {
        sim.badge(post, 'B1001');
        // A restart mid-fill leaves the post idle (the fill recorded as interrupted): that attempt is over too.
        await until(() => ph() === 'checked' || ph() === 'fault' || IDLE.has(ph()) || mine(), 20_000);
      }
      sim.remove(post);
      await until(() => mine() || IDLE.has(ph()) || ph() === 'fault', 5000);
    }
  }

  /** The chaos plan: one seeded action at a time, each undone after its span. */
  async function disturb(): Promise<void> {
    if (!o.chaosEveryMs) return;
    let lastRestart = performance.now();
    let lastKill = performance.now();
    while (!enough()) {
      await sleep(o.chaosEveryMs * (0.5 + rng()));
      if (enough()) break;
      const scale = `${posts[Math.floor(rng() * posts.length)]}.scale`;
      const span = 300 + rng() * 1200;
      const r = rng();
      const fault = (f: Record<string, unknown>, ms = span) => {
        try {
          sim.setFault(f);
          count(`${f.device === 'P1.valve' ? 'relay' : 'scale'} ${f.kind}`);
          if (f.kind !== 'link-drop') setTimeout(() => sim.clearFaults(f.device as string, f.kind as never), ms);
        } catch (err) {
          log(`chaos: ${(err as Error).message}`);
        }
      };
      const killsLeft = (chaos['gateway SIGKILL'] ?? 0) < (o.maxKills ?? Infinity);
      if (o.killEveryMs && child && killsLeft && performance.now() - lastKill > o.killEveryMs * (0.6 + 0.8 * rng())) {
        lastKill = lastRestart = performance.now();
        count('gateway SIGKILL');
        await switchToChild();
        continue;
      }
      if (o.restartEveryMs && performance.now() - lastRestart > o.restartEveryMs * (0.6 + 0.8 * rng())) {
        lastRestart = performance.now();
        count('gateway restart');
        await inProc.stop();
        await sleep(100 + 400 * rng());
        await inProc.start();
        continue;
      }
      if (r < 0.25) fault({ device: scale, kind: 'late', ms: Math.round(rng() < 0.5 ? 40 + rng() * 100 : timeoutMs + 20 + rng() * 200) });
      else if (r < 0.45) fault({ device: scale, kind: 'no-answer' });
      else if (r < 0.55) fault({ device: scale, kind: rng() < 0.5 ? 'corrupt' : 'garbage' });
      else if (r < 0.75) fault({ device: 'P1.valve', kind: 'late', ms: Math.round(rng() < 0.5 ? 20 + rng() * 100 : timeoutMs + 20 + rng() * 150) }, span / 2);
      else if (r < 0.9) fault({ device: 'P1.valve', kind: 'no-answer' }, span / 3);
      else fault({ device: 'P1.valve', kind: 'link-drop', ms: Math.round(200 + rng() * 800) });
    }
  }

  /** SIGKILL segment: the gateway runs as a child process, is killed mid-fill and restarted, then in-process again. */
  async function switchToChild(): Promise<void> {
    await inProc.stop();
    const proxy = child!;
    gw = proxy;
    const t = performance.now();
    await proxy.start();
    log(`child gateway up in ${(performance.now() - t).toFixed(0)} ms`);
    await sleep(2000 + 3000 * rng());
    await proxy.kill();
    await sleep(200 + 300 * rng());
    const t2 = performance.now();
    await proxy.start();
    log(`child gateway restarted after SIGKILL in ${(performance.now() - t2).toFixed(0)} ms`);
    await sleep(1000 + 1000 * rng());
    await proxy.stop();
    await inProc.start();
    gw = inProc;
  }

  await Promise.all([...posts.map(operate), disturb()]);
  const seconds = (performance.now() - t0) / 1000;
  sim.clearFaults();
  await inProc.stop();
  await sleep(100);
  sim.wire.onEntry = undefined;
  const wireDropped = sim.wire.dropped;
  await sim.close();
  rmSync(dir, { recursive: true, force: true });

  o.onTrace?.(trace, rx);
  const res = checkInvariant({ coils, decisions: trace.decisions, tx: trace.tx, rx, linkDown: trace.linkDown, wireOnly: trace.wireOnly, boundMs, requests, perRequestMs: timeoutMs + 10 });
  const outcomes: Record<string, number> = {};
  for (const r of trace.records) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  return {
    ...res,
    seed: o.seed,
    bus: o.bus,
    seconds: Math.round(seconds * 10) / 10,
    records: trace.records.length,
    outcomes,
    fills: res.attemptsOnWire,
    boundMs,
    p50: percentile(res.latencies, 50),
    p99: percentile(res.latencies, 99),
    max: res.latencies.length ? Math.max(...res.latencies) : NaN,
    chaos,
    stuck,
    wireDropped,
  };
}
