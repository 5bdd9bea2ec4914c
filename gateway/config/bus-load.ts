/**
 * How many exchanges per second the configured polling asks of each Modbus
 * bus, and how many the line carries (issue 14 point 3). `config check` warns
 * when the demand does not fit; `fillgate doctor` sets it against the round
 * trips it measured. Works on the raw config (before defaults), like checks.ts.
 *
 * Demand is the worst case: every post filling, so every scale at pollHz
 * (idlePollHz only helps while posts are idle). Valves: the feedback at rest
 * every 200 ms (one read per relay module and feedback kind, or one per valve
 * with batchFeedback off), and the keep-alive every keepAliveMs (one FC15 per
 * run of adjacent coils with writeMultipleCoils, else one FC05 per valve).
 *
 * Capacity: RTU, one exchange at a time: request and reply of about 29 bytes
 * at 11 bits a character (start, 8 data, parity or a second stop, stop; Modbus
 * over Serial Line v1.02 section 2.5.1) plus the 3.5-character gap (at least
 * 5 ms, the bus default). Modbus TCP: maxInFlight exchanges per round trip.
 */
import type { ModbusAddress } from '../../protocols/link/url.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);

/** Feedback supervision period of a valve at rest (devices/valve/modbus-valve.ts default). */
const FEEDBACK_POLL_MS = 200;
/** Modbus TCP round trip assumed when buses.<name>.assumedRttMs is absent (ms). */
export const DEFAULT_TCP_RTT_MS = 5;
/** Bytes of one RTU request and its reply, rounded up for a scale's few registers. */
const RTU_EXCHANGE_BYTES = 29;

export interface BusDemand {
  /** Exchanges per second, all posts filling. */
  total: number;
  scales: number;
  inputs: number;
  /** Gas detector controllers and cut-off valves (devices/leak). */
  leak: number;
  feedback: number;
  keepAlive: number;
}

export function busDemand(raw: unknown): Map<string, BusDemand> {
  const out = new Map<string, BusDemand>();
  if (!isObj(raw)) return out;
  const of = (bus: unknown): BusDemand | undefined => {
    if (typeof bus !== 'string') return undefined;
    let d = out.get(bus);
    if (!d) out.set(bus, (d = { total: 0, scales: 0, inputs: 0, leak: 0, feedback: 0, keepAlive: 0 }));
    return d;
  };
  const posts = Array.isArray(raw.posts) ? raw.posts.filter(isObj) : [];
  for (const s of [...posts.map((p) => p.scale), raw.checkScale]) {
    if (isObj(s) && s.kind === 'modbus') {
      const d = of(s.bus);
      if (d) d.scales += num(s.pollHz, 10);
    }
  }
  for (const p of posts) {
    for (const inp of [p.startInput, p.stopInput]) {
      const d = isObj(inp) ? of(inp.bus) : undefined;
      if (d && isObj(inp)) d.inputs += num(inp.pollHz, 10);
    }
  }
  // Leak devices: a detector reads %LEL (and status) per channel each poll; a cut-off valve reads its feedback.
  for (const c of Array.isArray(raw.leakDetectors) ? raw.leakDetectors.filter(isObj) : []) {
    const d = of(c.bus);
    if (d) d.leak += (1000 / num(c.pollMs, 1000)) * (Array.isArray(c.channels) ? c.channels.length : 1) * (c.noStatus === true ? 1 : 2);
  }
  for (const c of Array.isArray(raw.cutoffValves) ? raw.cutoffValves.filter(isObj) : []) {
    const d = of(c.bus);
    if (d) d.leak += 1000 / num(c.pollMs, 500);
  }
  // Valves by relay module (bus + unit).
  const modules = new Map<string, { bus: string; unit: number; valves: Obj[] }>();
  for (const p of posts) {
    const v = p.valve;
    if (!isObj(v) || typeof v.bus !== 'string' || typeof v.unit !== 'number') continue;
    const key = `${v.bus}#${v.unit}`;
    const m = modules.get(key) ?? { bus: v.bus, unit: v.unit, valves: [] };
    m.valves.push(v);
    modules.set(key, m);
  }
  const buses = isObj(raw.buses) ? raw.buses : {};
  for (const m of modules.values()) {
    const d = of(m.bus)!;
    const bus = buses[m.bus];
    const rm = isObj(bus) && Array.isArray(bus.relayModules) ? bus.relayModules.find((r) => isObj(r) && r.unit === m.unit) : undefined;
    const batch = !(isObj(rm) && rm.batchFeedback === false);
    const fc15 = isObj(rm) && rm.writeMultipleCoils === true;
    const withFeedback = m.valves.filter((v) => isObj(v.feedback));
    const kinds = new Set(withFeedback.map((v) => (v.feedback as Obj).kind));
    d.feedback += ((batch ? kinds.size : withFeedback.length) * 1000) / FEEDBACK_POLL_MS;
    const alive = m.valves.filter((v) => typeof v.keepAliveMs === 'number').sort((a, b) => num(a.coil, 0) - num(b.coil, 0));
    if (alive.length === 0) continue;
    const period = Math.min(...alive.map((v) => v.keepAliveMs as number));
    let writes = 0;
    alive.forEach((v, i) => {
      if (!fc15 || i === 0 || num(alive[i - 1]!.coil, -2) !== num(v.coil, 0) - 1) writes++;
    });
    d.keepAlive += fc15 ? (writes * 1000) / period : alive.reduce((sum, v) => sum + 1000 / (v.keepAliveMs as number), 0);
  }
  for (const d of out.values()) d.total = d.scales + d.inputs + d.leak + d.feedback + d.keepAlive;
  return out;
}

/** What one exchange costs on this bus (ms) and how many go at once. */
export function exchangeCost(address: ModbusAddress, bus: Obj | undefined, rttMs?: number): { exchangeMs: number; parallel: number; basis: string } {
  if (address.link.kind === 'serial') {
    const baud = address.link.baudRate;
    const gap = bus && typeof bus.gapMs === 'number' ? bus.gapMs : Math.max(5, (3.5 * 11 * 1000) / baud);
    const wire = (RTU_EXCHANGE_BYTES * 11 * 1000) / baud;
    if (rttMs !== undefined) return { exchangeMs: rttMs + gap, parallel: 1, basis: `an RTU line at ${baud} baud (measured ${rttMs} ms round trip + ${gap.toFixed(1)} ms gap per exchange)` };
    return { exchangeMs: wire + gap, parallel: 1, basis: `an RTU line at ${baud} baud (${wire.toFixed(1)} ms on the wire + ${gap.toFixed(1)} ms gap per exchange)` };
  }
  const parallel = address.framing === 'mbap' ? num(bus?.maxInFlight, 1) : 1;
  const measured = rttMs !== undefined;
  const rtt = rttMs ?? num(bus?.assumedRttMs, DEFAULT_TCP_RTT_MS);
  // RTU through a device server keeps the RTU gap between exchanges (bus.ts default 5 ms).
  const gap = address.framing === 'rtu' ? (bus && typeof bus.gapMs === 'number' ? bus.gapMs : 5) : 0;
  const what = address.framing === 'mbap' ? 'a Modbus TCP link' : 'RTU over TCP';
  const gapText = gap > 0 ? ` + ${gap} ms gap` : '';
  return { exchangeMs: rtt + gap, parallel, basis: `${what} at a ${measured ? 'measured' : 'assumed'} ${rtt} ms round trip${gapText}${parallel > 1 ? `, ${parallel} in flight` : ''}` };
}

/** Exchanges per second the bus carries. */
export function busCapacity(address: ModbusAddress, bus: Obj | undefined, rttMs?: number): { perSec: number; basis: string } {
  const c = exchangeCost(address, bus, rttMs);
  return { perSec: (1000 / Math.max(0.01, c.exchangeMs)) * c.parallel, basis: c.basis };
}

/** "320 scale polls, 64 input polls, 5 feedback reads, 10 keep-alives" */
export function describeDemand(d: BusDemand): string {
  const r = (x: number) => Math.round(x * 10) / 10;
  return `${r(d.scales)} scale polls, ${r(d.inputs)} input polls, ${d.leak > 0 ? `${r(d.leak)} leak device polls, ` : ''}${r(d.feedback)} feedback reads, ${r(d.keepAlive)} keep-alives`;
}
