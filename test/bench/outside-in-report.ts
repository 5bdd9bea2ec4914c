/** The outside-in bench's figures (issue 14 point 1) from the fills, the wire and /proc, and the table that prints them. */
import { percentile, slope, type FillValve } from './outside-in-measure.ts';
import type { FillRun, Kind } from './outside-in-operator.ts';
import type { LoopSnap, ProcSample } from './outside-in-procs.ts';
import { ALLOWED_KG, DIVISION_KG, TARGET_KG } from './outside-in-station.ts';

export interface Figures {
  kind: Kind;
  posts: number;
  seconds: number;
  /** Cylinders placed, and of those whose valve opened on the wire. */
  fills: number;
  opened: number;
  completed: number;
  /** Fills that did not reach their end (refused, tripped, faulted, start missed), by how they ended. */
  notCompleted: number;
  notCompletedBy: Record<string, number>;
  /** True content (simulator) above the cylinder's allowed fill mass. */
  overAllowed: number;
  /** |content − target| over every fill whose valve opened, the posts' first fills included (g). */
  absDevMeanG: number;
  absDevP99G: number;
  absDevMaxG: number;
  /** The same over completed fills only (g). */
  completedAbsDevP99G: number;
  /** Fills with exactly one ON and one OFF on the wire (no top-up). */
  oneCloseFills: number;
  /** ON writes after a fill's first close (top-up pulses and re-opens). */
  extraOpens: number;
  reopensWithin1s: number;
  /** Opened fills whose first coil-OFF reached the wire only after the operator had taken the cylinder off (or never). */
  closedAfterRemoval: number;
  /** How long after the removal those OFFs came (ms, max). */
  closedAfterRemovalMaxMs: number;
  /** Faulted fills whose coil was still ON on the wire when the operator saw the fault on /status. */
  offAfterFault: number;
  /** Coil-OFF on the wire minus the fault showing on /status, over faulted fills that had opened (ms; ≤ 0: already OFF). */
  offAfterFaultP50Ms: number;
  offAfterFaultP99Ms: number;
  offAfterFaultMaxMs: number;
  /** Cut-off of a completed fill (its first close): coil-OFF on the wire minus the last scale reply before it (ms, simulator clock). */
  closeLatencyP50Ms: number;
  closeLatencyP99Ms: number;
  closeLatencyMaxMs: number;
  staleWeightTrips: number;
  /** Start presses the controller did not act on (the operator pressed again). */
  ignoredStarts: number;
  trips: Record<string, number>;
  refusals: Record<string, number>;
  /** Controller process CPU seconds per wall second, RSS from /proc. */
  cpuPerWallS: number;
  rssMaxMB: number;
  rssSlopeMBPerMin: number;
  /** Event-loop lag: worst 10 s window p99, and the max (ms). */
  loopLagP99Ms: number;
  loopLagMaxMs: number;
  startToFirstReadMs: number;
  scaleReadsPerPostPerS: number;
  /** Requests on the shared connection per second: scale reads and everything sent to the relay module. */
  busRequestsPerS: number;
  /** The simulator's own CPU per wall second: near 1 it, not the controller, would be the bottleneck. */
  simCpuPerWallS: number;
  wireDropped: number;
  /** The fills more than one division (10 g) from the target, and what they have in common. */
  beyondDivision: Misses;
}

/** Fills off the target by more than one division: over or under, first fill at the post or not, topped up or not, and their drawn physics. */
export interface Misses {
  fills: number;
  over: number;
  under: number;
  firstAtPost: number;
  toppedUp: number;
  /** Means of the simulator's draws for those fills (flow kg/min, valve closing time ms). */
  flowKgPerMin: number;
  closeDelayMs: number;
}

function misses(fills: FillRun[], valves: FillValve[]): Misses {
  const k = fills.flatMap((f, j) => (valves[j]!.opens > 0 && Math.abs(f.contentKg - TARGET_KG) > DIVISION_KG ? [j] : []));
  const mean = (xs: number[]) => (xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10 : NaN);
  return {
    fills: k.length,
    over: k.filter((j) => fills[j]!.contentKg > TARGET_KG).length,
    under: k.filter((j) => fills[j]!.contentKg < TARGET_KG).length,
    firstAtPost: k.filter((j) => fills[j]!.index === 0).length,
    toppedUp: k.filter((j) => valves[j]!.opens > 1).length,
    flowKgPerMin: mean(k.map((j) => fills[j]!.drawn.flowKgPerMin)),
    closeDelayMs: mean(k.map((j) => fills[j]!.drawn.closeDelayMs)),
  };
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

export function summarise(i: {
  kind: Kind;
  posts: number;
  fills: FillRun[];
  valves: FillValve[];
  proc: ProcSample[];
  loop: LoopSnap[];
  startToFirstReadMs: number;
  seconds: number;
  trips: Record<string, number>;
  refusals: Record<string, number>;
  scaleReadsPerPostPerS: number;
  busRequestsPerS: number;
  simProc: ProcSample[];
  wireDropped: number;
}): Figures {
  const opened = i.fills.filter((_, k) => i.valves[k]!.opens > 0);
  const dev = (fs: FillRun[]) => fs.map((f) => Math.abs(f.contentKg - TARGET_KG) * 1000).sort((a, b) => a - b);
  const all = dev(opened);
  const lat = i.valves.filter((_, k) => i.fills[k]!.completed).map((v) => v.closeLatencyMs).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  const notCompletedBy: Record<string, number> = {};
  for (const f of i.fills) if (!f.completed) notCompletedBy[f.end ?? '?'] = (notCompletedBy[f.end ?? '?'] ?? 0) + 1;
  const p = i.proc;
  const cpu = (q: ProcSample[]) => (q.length > 1 ? (q.at(-1)!.cpuS - q[0]!.cpuS) / ((q.at(-1)!.t - q[0]!.t) / 1000) : NaN);
  // RSS slope over the second half, after start-up and the first fills.
  const half = p.slice(Math.floor(p.length / 2));
  const late = i.valves.flatMap((v, k) => (v.opens > 0 && (v.firstCloseAt === undefined || v.firstCloseAt > i.fills[k]!.toAt) ? [k] : []));
  const fault = i.valves.map((v) => v.offAfterFaultMs).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  return {
    kind: i.kind,
    posts: i.posts,
    seconds: r1(i.seconds),
    fills: i.fills.length,
    opened: opened.length,
    completed: i.fills.filter((f) => f.completed).length,
    notCompleted: i.fills.filter((f) => !f.completed).length,
    notCompletedBy,
    overAllowed: opened.filter((f) => f.contentKg > ALLOWED_KG + 1e-9).length,
    absDevMeanG: r1(all.reduce((a, b) => a + b, 0) / (all.length || NaN)),
    absDevP99G: r1(percentile(all, 99)),
    absDevMaxG: r1(all.at(-1) ?? NaN),
    completedAbsDevP99G: r1(percentile(dev(opened.filter((f) => f.completed)), 99)),
    oneCloseFills: i.valves.filter((v) => v.opens === 1 && v.closes === 1).length,
    extraOpens: i.valves.reduce((n, v) => n + Math.max(0, v.opens - 1), 0),
    reopensWithin1s: i.valves.reduce((n, v) => n + v.reopensWithin1s, 0),
    closedAfterRemoval: late.length,
    closedAfterRemovalMaxMs: Math.round(Math.max(0, ...late.map((k) => (i.valves[k]!.firstCloseAt ?? Infinity) - i.fills[k]!.toAt))),
    offAfterFault: fault.filter((x) => x > 0).length,
    offAfterFaultP50Ms: r1(percentile(fault, 50)),
    offAfterFaultP99Ms: r1(percentile(fault, 99)),
    offAfterFaultMaxMs: r1(fault.at(-1) ?? NaN),
    closeLatencyP50Ms: r1(percentile(lat, 50)),
    closeLatencyP99Ms: r1(percentile(lat, 99)),
    closeLatencyMaxMs: r1(lat.at(-1) ?? NaN),
    staleWeightTrips: i.trips.STALE_WEIGHT ?? 0,
    ignoredStarts: i.fills.reduce((n, f) => n + f.ignoredStarts, 0),
    trips: i.trips,
    refusals: i.refusals,
    cpuPerWallS: r3(cpu(p)),
    rssMaxMB: r1(Math.max(...p.map((s) => s.rssMB))),
    rssSlopeMBPerMin: r1(slope(half.map((s) => s.t / 60_000), half.map((s) => s.rssMB))),
    loopLagP99Ms: r1(Math.max(0, ...i.loop.map((l) => l.p99Ms))),
    loopLagMaxMs: r1(Math.max(0, ...i.loop.map((l) => Math.max(l.maxMs, l.worstMs)))),
    startToFirstReadMs: Math.round(i.startToFirstReadMs),
    scaleReadsPerPostPerS: r1(i.scaleReadsPerPostPerS),
    busRequestsPerS: Math.round(i.busRequestsPerS),
    simCpuPerWallS: r3(cpu(i.simProc)),
    wireDropped: i.wireDropped,
    beyondDivision: misses(i.fills, i.valves),
  };
}

const ROWS: [keyof Figures, string][] = [
  ['fills', 'fills (cylinders placed)'],
  ['opened', 'fills whose valve opened'],
  ['completed', 'fills completed'],
  ['notCompleted', 'fills that did not complete'],
  ['overAllowed', 'fills above the allowed mass'],
  ['absDevMeanG', '|net − target| mean (g)'],
  ['absDevP99G', '|net − target| p99 (g)'],
  ['absDevMaxG', '|net − target| max (g)'],
  ['completedAbsDevP99G', '|net − target| p99, completed only (g)'],
  ['oneCloseFills', 'fills with one open and one close'],
  ['extraOpens', 'opens after the first close (top-ups)'],
  ['reopensWithin1s', 're-opens within 1 s of a close'],
  ['closedAfterRemoval', 'first OFF only after the removal'],
  ['closedAfterRemovalMaxMs', '… by at most (ms)'],
  ['offAfterFault', 'faults seen with the coil still ON'],
  ['offAfterFaultP50Ms', 'fault on /status → coil-OFF p50 (ms)'],
  ['offAfterFaultP99Ms', 'fault on /status → coil-OFF p99 (ms)'],
  ['offAfterFaultMaxMs', 'fault on /status → coil-OFF max (ms)'],
  ['closeLatencyP50Ms', 'cut-off: last sample → coil-OFF p50 (ms)'],
  ['closeLatencyP99Ms', 'cut-off: last sample → coil-OFF p99 (ms)'],
  ['closeLatencyMaxMs', 'cut-off: last sample → coil-OFF max (ms)'],
  ['staleWeightTrips', 'stale-weight trips'],
  ['ignoredStarts', 'start presses ignored'],
  ['cpuPerWallS', 'CPU per wall second'],
  ['rssMaxMB', 'RSS max (MB)'],
  ['rssSlopeMBPerMin', 'RSS slope, 2nd half (MB/min)'],
  ['loopLagP99Ms', 'event-loop lag p99 (ms)'],
  ['loopLagMaxMs', 'event-loop lag max (ms)'],
  ['startToFirstReadMs', 'start to first scale read (ms)'],
  ['scaleReadsPerPostPerS', 'scale reads per post per s'],
  ['busRequestsPerS', 'requests on the bus per s'],
  ['simCpuPerWallS', 'simulator CPU per wall second'],
  ['seconds', 'run (s)'],
];

export function formatTable(r: { posts: number; fills: number; seed: number; fillgate: Figures; naive: Figures; ratio: Record<string, number> }): string {
  const lines = [`outside-in: ${r.posts} posts on one Modbus TCP connection, ${r.fills} fills per controller, seed ${r.seed}`];
  lines.push(`  ${'figure'.padEnd(40)} ${'fillgate'.padStart(10)} ${'naive'.padStart(10)} ${'ratio'.padStart(7)}`);
  for (const [k, label] of ROWS) {
    const a = r.fillgate[k];
    const b = r.naive[k];
    lines.push(`  ${label.padEnd(40)} ${String(a).padStart(10)} ${String(b).padStart(10)} ${String(r.ratio[k] ?? '').padStart(7)}`);
  }
  const by = (f: Figures) => Object.entries(f.notCompletedBy).map(([k, v]) => `${k} ×${v}`).join(', ') || 'none';
  lines.push(`  not completed: fillgate ${by(r.fillgate)}; naive ${by(r.naive)}`);
  lines.push(`  fillgate trips ${JSON.stringify(r.fillgate.trips)}, refusals ${JSON.stringify(r.fillgate.refusals)}; wire log entries dropped ${r.fillgate.wireDropped}/${r.naive.wireDropped}`);
  const m = (f: Figures) => {
    const x = f.beyondDivision;
    return `${x.fills} (over ${x.over}, under ${x.under}; first at the post ${x.firstAtPost}; topped up ${x.toppedUp}; mean draw ${x.flowKgPerMin} kg/min, ${x.closeDelayMs} ms closing)`;
  };
  lines.push(`  beyond one division (10 g): fillgate ${m(r.fillgate)}; naive ${m(r.naive)}`);
  return lines.join('\n');
}
