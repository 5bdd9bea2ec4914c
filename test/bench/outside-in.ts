/**
 * Benchmark (issue 14 point 1): fillgate measured from outside. The gateway
 * runs as its own process (`fillgate start`) against the simulator as its own
 * process: N posts whose scales and one relay module share ONE Modbus TCP
 * connection, 10 Hz polling, physics drawn per post and per fill
 * (outside-in-station.ts), full fill cycles by operators through the
 * simulator's control API (outside-in-operator.ts). The naive fixed cut-off
 * controller (outside-in-naive.ts) runs through the same harness, same
 * physics, same draws, afterwards. Figures from the simulator's wire log and
 * state (outside-in-measure.ts) and from /proc; lag and trips from the
 * controller's /status and /metrics.
 *
 *   npm run bench -- outside-in [--json]
 * Environment: OUTSIDE_IN_POSTS (default 32; a list runs each: 1,8,32,64,128),
 * OUTSIDE_IN_FILLS (fills per run, default 6 per post; 1024 for the run), OUTSIDE_IN_SEED.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { fillValve, metricByLabel, WireCollector } from './outside-in-measure.ts';
import { operate, type FillRun, type Kind } from './outside-in-operator.ts';
import { fillgate, fillgateArgs, naiveArgs, pollStatus, sampleProc, simArgs, spawnNode, type Proc } from './outside-in-procs.ts';
import { RELAY_UNIT, TARE_KG, TARGET_KG, cylindersCsv, gatewayConfig, operatorsCsv, stationDoc, type PostPhysics } from './outside-in-station.ts';
import { summarise, formatTable, type Figures } from './outside-in-report.ts';
import { serviceEnv } from './service-env.ts';
import { freePort } from '../fixtures/free-port.ts';

export type { Figures };

export interface RunOptions {
  posts: number;
  fillsPerPost: number;
  seed: number;
  /** Per-post flow and closing time instead of the seeded draw (tests). */
  physics?: PostPhysics[];
  log?: (line: string) => void;
}

export interface RunResult {
  figures: Figures;
  fills: FillRun[];
  valves: ReturnType<typeof fillValve>[];
}

/** One controller on a fresh simulator: start everything, run the operators, measure, stop. */
export async function runOne(kind: Kind, o: RunOptions): Promise<RunResult> {
  const log = o.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), `fg-outside-${kind}-`));
  const procs: Proc[] = [];
  try {
    const stationFile = join(dir, 'station.yaml');
    writeFileSync(stationFile, stringify(stationDoc(o.posts, o.seed, o.physics)));
    const sim = spawnNode(simArgs(stationFile), 'simulator');
    procs.push(sim);
    const served = JSON.parse((await sim.waitFor(/^\{"control".*$/m))[0]) as { control: string; endpoints: Record<string, string> };
    const devices = Object.fromEntries(Object.entries(served.endpoints).map(([k, url]) => [k, { url, unitId: Number(/#unit=(\d+)/.exec(url)?.[1]) || undefined }]));
    const busUrl = served.endpoints['P1.valve']!.split('#')[0]!;
    const wire = new WireCollector(served.control, RELAY_UNIT);
    wire.start();
    const { codes, csv } = cylindersCsv(o.posts * o.fillsPerPost);
    let ctl: Proc;
    let url: string;
    if (kind === 'fillgate') {
      const cfgFile = join(dir, 'gateway.yaml');
      const port = await freePort();
      mkdirSync(join(dir, 'data'));
      writeFileSync(cfgFile, stringify(gatewayConfig(o.posts, devices, join(dir, 'data'), port)));
      writeFileSync(join(dir, 'cylinders.csv'), csv);
      writeFileSync(join(dir, 'operators.csv'), operatorsCsv(o.posts));
      await fillgate('registry', 'import', '--config', cfgFile, 'cylinders', join(dir, 'cylinders.csv'));
      await fillgate('registry', 'import', '--config', cfgFile, 'operators', join(dir, 'operators.csv'));
      // With the shipped systemd unit's environment (memory settings), as a station runs it.
      ctl = spawnNode(fillgateArgs('start', '--config', cfgFile), 'fillgate start', serviceEnv());
      url = `http://127.0.0.1:${port}`;
    } else {
      const [host, port] = busUrl.replace('modbus-tcp://', '').split(':');
      ctl = spawnNode(naiveArgs('--bus', `${host}:${port}`, '--relay', String(RELAY_UNIT), '--posts', String(o.posts), '--target-gross', String(TARE_KG + TARGET_KG), '--decimals', '2'), 'naive');
      url = JSON.parse((await ctl.waitFor(/^\{"url".*$/m))[0]).url;
    }
    procs.push(ctl);
    const proc = sampleProc(ctl.child.pid!);
    const simProc = sampleProc(sim.child.pid!);
    const status = pollStatus(url);
    // Every post has a weight: the controller is up (the gateway's /status answers once its devices are built).
    const t0 = Date.now();
    while (![...Array(o.posts).keys()].every((i) => status.posts.get(`P${i + 1}`)?.grossKg !== undefined && Number.isFinite(status.posts.get(`P${i + 1}`)!.grossKg))) {
      if (Date.now() - t0 > 60_000) throw new Error(`${kind}: no weights after 60 s:\n${ctl.output.slice(-3000)}`);
      if (ctl.child.exitCode !== null) throw new Error(`${kind} exited ${ctl.child.exitCode}:\n${ctl.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    log(`${kind}: ${o.posts} posts up in ${Date.now() - ctl.spawnedAt} ms; ${o.posts * o.fillsPerPost} fills`);
    const runFrom = Date.now();
    const ctx = { kind, simUrl: served.control, posts: status.posts, codes, fillsPerPost: o.fillsPerPost, seed: o.seed, deadline: Date.now() + o.fillsPerPost * 90_000 };
    const fills = (await Promise.all([...Array(o.posts).keys()].map((i) => operate(ctx, i)))).flat();
    const runTo = Date.now();
    const metrics = kind === 'fillgate' ? await (await fetch(`${url}/metrics`)).text() : '';
    await status.stop();
    proc.stop();
    simProc.stop();
    if (process.env.OUTSIDE_IN_LOG) writeFileSync(join(tmpdir(), `outside-in-${kind}.log`), ctl.output);
    await wire.stop();
    // A fill owns its coil from its placement to the next placement at that post: an OFF that reaches the wire
    // only after the operator, seeing the fault on /status, took the cylinder off still belongs to it.
    const nextAt = (f: FillRun) => fills.find((g) => g.post === f.post && g.index === f.index + 1)?.fromAt ?? Infinity;
    const valves = fills.map((f) => fillValve(wire, f.post, f.post + 1, f.fromAt, nextAt(f), f.faultSeenAt));
    // Lag windows (10 s, gateway/runtime/loop-lag.ts) that began after the operators started: start-up is its own figure.
    const loop = status.loop.filter((l) => l.t >= runFrom + 20_000);
    const figures = summarise({
      kind,
      posts: o.posts,
      fills,
      valves,
      proc: proc.samples.filter((s) => s.t >= runFrom && s.t <= runTo + 1000),
      loop: loop.length ? loop : status.loop.filter((l) => l.t >= runFrom),
      startToFirstReadMs: wire.firstReadAt !== undefined ? wire.firstReadAt - ctl.spawnedAt : NaN,
      seconds: (runTo - runFrom) / 1000,
      trips: metricByLabel(metrics, 'fillgate_trips_total', 'reason'),
      refusals: metricByLabel(metrics, 'fillgate_refusals_total', 'reason'),
      scaleReadsPerPostPerS: wire.repliesBetween(runFrom, runTo) / o.posts / ((runTo - runFrom) / 1000),
      busRequestsPerS: (wire.repliesBetween(runFrom, runTo) + wire.relayRequestsBetween(runFrom, runTo)) / ((runTo - runFrom) / 1000),
      simProc: simProc.samples.filter((s) => s.t >= runFrom && s.t <= runTo + 1000),
      wireDropped: wire.dropped,
    });
    return { figures, fills, valves };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface BenchResult {
  posts: number;
  fills: number;
  seed: number;
  fillgate: Figures;
  naive: Figures;
  /** fillgate ÷ naive per figure (below 1 = fillgate smaller). */
  ratio: Record<string, number>;
}

export async function runSize(o: RunOptions & { print?: boolean }): Promise<BenchResult> {
  const fg = await runOne('fillgate', o);
  const nv = await runOne('naive', o);
  const a = fg.figures;
  const b = nv.figures;
  const ratio: Record<string, number> = {};
  for (const [k, v] of Object.entries(a)) {
    const w = (b as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number' && typeof w === 'number' && w !== 0 && Number.isFinite(v) && Number.isFinite(w)) ratio[k] = Math.round((v / w) * 100) / 100;
  }
  const r = { posts: o.posts, fills: o.posts * o.fillsPerPost, seed: o.seed, fillgate: a, naive: b, ratio };
  if (o.print) console.log(formatTable(r));
  return r;
}

export async function run(opts: { print?: boolean } = {}): Promise<BenchResult[]> {
  const env = process.env;
  const sizes = (env.OUTSIDE_IN_POSTS ?? '32').split(',').map(Number).filter((x) => x > 0);
  const seed = Number(env.OUTSIDE_IN_SEED ?? 1401);
  const out: BenchResult[] = [];
  for (const posts of sizes) {
    const fills = Number(env.OUTSIDE_IN_FILLS ?? posts * 6);
    const fillsPerPost = Math.max(1, Math.ceil(fills / posts));
    out.push(await runSize({ posts, fillsPerPost, seed, print: opts.print ?? true, log: opts.print === false ? undefined : (l) => console.log(`  ${l}`) }));
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const json = process.argv.includes('--json');
  const r = await run({ print: !json });
  if (json) console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
