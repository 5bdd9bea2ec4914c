/**
 * Builds the wire side of a station: one endpoint per bus, stream scale and
 * reader, Modbus slaves with their units, relay modules wired to the posts.
 */
import type { Clock } from '../protocols/clock.ts';
import type { ScaleFormatOptions } from '../protocols/scale/index.ts';
import type { FaultBook } from './faults.ts';
import type { Endpoint } from './wire/endpoint.ts';
import { TcpEndpoint } from './wire/tcp.ts';
import { PtyEndpoint, socatAvailable } from './wire/pty.ts';
import { ModbusSlave } from './wire/modbus-slave.ts';
import { SimScale } from './devices/scale.ts';
import { ModbusScaleUnit } from './devices/modbus-scale.ts';
import { StreamScaleServer } from './devices/stream-scale.ts';
import { SimReader } from './devices/reader.ts';
import { SimRelayModule } from './devices/relay.ts';
import type { WireLog } from './wire/wire-log.ts';
import type { SimPost } from './post.ts';
import { SimGasDetector } from './devices/gas-detector.ts';
import { SimCutoffValve } from './devices/cutoff.ts';
import type { BusSpec, CutoffValveSpec, ScaleSpec, Station } from './station.ts';

export interface BuildOptions {
  portsFromZero: boolean;
  ptyDir: string;
  clock: Clock;
  faults: FaultBook;
  /** Notes for the operator, e.g. a pty bus served on TCP because socat is missing. */
  warnings: string[];
  /** Every request and reply the devices see (wire-log.ts). */
  wire: WireLog;
}

export interface DeviceEndpoint {
  /** Link or bus URL a gateway opens. */
  url: string;
  unitId?: number;
  endpoint: Endpoint;
}

export interface Built {
  slaves: Map<string, ModbusSlave>;
  relays: SimRelayModule[];
  streams: StreamScaleServer[];
  readers: Map<string, SimReader>;
  scales: Map<string, SimScale>;
  /** Modbus scale units by device id (setpoint outputs are checked on these). */
  scaleUnits: Map<string, ModbusScaleUnit>;
  devices: Map<string, DeviceEndpoint>;
  endpoints: Endpoint[];
  /** Gas detector controllers and emergency cut-off valves by id. */
  gas: Map<string, SimGasDetector>;
  cutoffs: Map<string, SimCutoffValve>;
}

async function streamEndpoint(
  name: string,
  spec: { transport: 'tcp' | 'pty'; port?: number | undefined; baud: number },
  o: BuildOptions,
): Promise<Endpoint> {
  if (spec.transport === 'pty') {
    if (socatAvailable()) return PtyEndpoint.open(o.ptyDir, name, spec.baud, 'serial');
    o.warnings.push(`${name}: socat is not installed, served on TCP instead of a pty`);
  }
  return TcpEndpoint.listen(o.portsFromZero ? 0 : (spec.port ?? 0), 'tcp');
}

async function busEndpoint(name: string, spec: BusSpec, o: BuildOptions): Promise<{ endpoint: Endpoint; framing: 'mbap' | 'rtu' }> {
  const port = o.portsFromZero ? 0 : (spec.port ?? 0);
  if (spec.transport === 'modbus-tcp') return { endpoint: await TcpEndpoint.listen(port, 'modbus-tcp'), framing: 'mbap' };
  if (spec.transport === 'rtu-pty') {
    if (socatAvailable()) return { endpoint: await PtyEndpoint.open(o.ptyDir, `bus-${name}`, spec.baud, 'modbus-rtu'), framing: 'rtu' };
    o.warnings.push(`bus ${name}: socat is not installed, RTU served over TCP (modbus-rtu-tcp) instead of a pty`);
  }
  return { endpoint: await TcpEndpoint.listen(port, 'modbus-rtu-tcp'), framing: 'rtu' };
}

function deviceUrl(endpoint: Endpoint, unitId?: number): string {
  return unitId === undefined ? endpoint.url : `${endpoint.url}#unit=${unitId}`;
}

async function buildScale(
  id: string,
  spec: ScaleSpec,
  load: (t: number) => number,
  seed: number,
  b: Built,
  o: BuildOptions,
  onSetpoint?: (on: boolean, t: number) => void,
): Promise<void> {
  const scale = new SimScale(id, spec, load, o.faults, seed);
  b.scales.set(id, scale);
  if (spec.protocol === 'modbus') {
    const slave = b.slaves.get(spec.bus)!;
    const unit = new ModbusScaleUnit(spec.unitId, scale, spec, o.faults, onSetpoint);
    slave.addUnit(unit);
    b.scaleUnits.set(id, unit);
    b.devices.set(id, { url: deviceUrl(slave.endpoint, spec.unitId), unitId: spec.unitId, endpoint: slave.endpoint });
    return;
  }
  const endpoint = await streamEndpoint(id.replace('.', '-'), spec, o);
  b.endpoints.push(endpoint);
  const server = new StreamScaleServer(scale, spec.protocol, endpoint, spec.framesPerSecond, o.faults, o.clock, spec.formatOptions as ScaleFormatOptions, o.wire);
  b.streams.push(server);
  b.devices.set(id, { url: endpoint.url, endpoint });
}

/** Relay modules: the posts' valves and the cut-off valves with the same bus and unit id share one module. */
function buildRelays(posts: SimPost[], cutoffs: CutoffValveSpec[], b: Built, o: BuildOptions): void {
  const groups = new Map<string, { bus: string; unitId: number; posts: SimPost[]; cutoffs: CutoffValveSpec[] }>();
  const group = (bus: string, unitId: number) => {
    const key = `${bus}#${unitId}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { bus, unitId, posts: [], cutoffs: [] }));
    return g;
  };
  for (const p of posts) group(p.spec.valve.bus, p.spec.valve.unitId).posts.push(p);
  for (const c of cutoffs) group(c.bus, c.unitId).cutoffs.push(c);
  for (const g of groups.values()) {
    const used = [
      ...g.posts.flatMap((p) => [p.spec.valve.coil, p.spec.valve.feedbackInput ?? 0, p.spec.valve.startInput ?? 0, p.spec.valve.stopInput ?? 0]),
      ...g.cutoffs.flatMap((c) => [c.coil, c.feedbackInput]),
    ];
    const watchdogs = g.posts.map((p) => p.spec.valve.watchdogMs).filter((w): w is number => w !== undefined);
    const valves = new Map<number, SimCutoffValve>();
    for (const c of g.cutoffs) {
      const v = new SimCutoffValve(c, (closed, t, source) =>
        o.wire.add({ kind: 'cutoff', bus: g.bus, unitId: g.unitId, devices: [`${c.id}.cutoff`], coil: c.coil, on: closed, source, t }),
      );
      valves.set(c.coil, v);
      b.cutoffs.set(c.id, v);
    }
    const relay = new SimRelayModule({
      unitId: g.unitId,
      deviceIds: [...g.posts.map((p) => `${p.spec.id}.valve`), ...g.cutoffs.map((c) => `${c.id}.cutoff`)],
      channels: Math.max(8, Math.max(...used) + 1),
      // One watchdog per module, as on real modules: the shortest any of its valves asks for.
      watchdogMs: watchdogs.length ? Math.min(...watchdogs) : undefined,
      onCoil: (coil, on, t, source) => {
        const post = g.posts.find((p) => p.spec.valve.coil === coil);
        const cutoff = g.cutoffs.find((c) => c.coil === coil);
        const devices = post ? [`${post.spec.id}.valve`] : cutoff ? [`${cutoff.id}.cutoff`] : [];
        o.wire.add({ kind: 'coil', bus: g.bus, unitId: g.unitId, devices, coil, on, source });
        post?.commandValve(on, t);
        valves.get(coil)?.command(on, t);
      },
    });
    for (const p of g.posts) {
      const v = p.spec.valve;
      if (v.feedbackInput !== undefined) relay.setInput(v.feedbackInput, (t) => !p.valveOpenAt(t));
      if (v.startInput !== undefined) relay.setInput(v.startInput, (t) => p.pressed('start', t));
      if (v.stopInput !== undefined) relay.setInput(v.stopInput, (t) => p.pressed('stop', t));
    }
    for (const c of g.cutoffs) relay.setInput(c.feedbackInput, (t) => valves.get(c.coil)!.isClosed(t));
    const slave = b.slaves.get(g.bus)!;
    slave.addUnit(relay);
    b.relays.push(relay);
    const at = { url: deviceUrl(slave.endpoint, g.unitId), unitId: g.unitId, endpoint: slave.endpoint };
    for (const p of g.posts) b.devices.set(`${p.spec.id}.valve`, at);
    for (const c of g.cutoffs) b.devices.set(`${c.id}.cutoff`, at);
  }
}

/** Everything that listens; on failure, what was opened is closed again. */
export async function buildStation(station: Station, posts: SimPost[], checkLoad: (t: number) => number, o: BuildOptions): Promise<Built> {
  const b: Built = { slaves: new Map(), relays: [], streams: [], readers: new Map(), scales: new Map(), scaleUnits: new Map(), devices: new Map(), endpoints: [], gas: new Map(), cutoffs: new Map() };
  try {
    for (const [name, spec] of Object.entries(station.buses)) {
      const { endpoint, framing } = await busEndpoint(name, spec, o);
      b.endpoints.push(endpoint);
      b.slaves.set(name, new ModbusSlave(endpoint, framing, o.faults, o.clock, { log: o.wire, bus: name }));
    }
    let seed = 1;
    for (const p of posts) {
      await buildScale(`${p.spec.id}.scale`, p.spec.scale, (t) => p.grossKg(t), seed++, b, o, (on, t) => p.setpointOutput(on, t));
      const endpoint = await streamEndpoint(`${p.spec.id}-reader`, p.spec.reader, o);
      b.endpoints.push(endpoint);
      b.readers.set(p.spec.id, new SimReader(`${p.spec.id}.reader`, p.spec.reader, endpoint, o.faults, o.wire));
      b.devices.set(`${p.spec.id}.reader`, { url: endpoint.url, endpoint });
    }
    if (station.checkScale) await buildScale('check.scale', station.checkScale, checkLoad, seed++, b, o);
    if (station.checkReader) {
      const endpoint = await streamEndpoint('check-reader', station.checkReader, o);
      b.endpoints.push(endpoint);
      b.readers.set('check', new SimReader('check.reader', station.checkReader, endpoint, o.faults, o.wire));
      b.devices.set('check.reader', { url: endpoint.url, endpoint });
    }
    buildRelays(posts, station.cutoffValves, b, o);
    for (const g of station.gasDetectors) {
      const slave = b.slaves.get(g.bus)!;
      const unit = new SimGasDetector({ id: g.id, unitId: g.unitId, registerMap: g.registerMap, sensors: g.sensors, level1Lel: g.level1Lel, level2Lel: g.level2Lel });
      slave.addUnit(unit);
      b.gas.set(g.id, unit);
      b.devices.set(`${g.id}.detector`, { url: deviceUrl(slave.endpoint, g.unitId), unitId: g.unitId, endpoint: slave.endpoint });
    }
    return b;
  } catch (err) {
    await closeBuilt(b);
    throw err;
  }
}

export async function closeBuilt(b: Built): Promise<void> {
  for (const s of b.streams) s.stop();
  for (const r of b.readers.values()) r.stop();
  for (const s of b.slaves.values()) s.close();
  await Promise.all(b.endpoints.map((e) => e.close().catch(() => undefined)));
}
