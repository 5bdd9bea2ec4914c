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
import type { BusSpec, ScaleSpec, Station } from './station.ts';

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

function buildRelays(posts: SimPost[], b: Built, o: BuildOptions): void {
  const groups = new Map<string, SimPost[]>();
  for (const p of posts) {
    const key = `${p.spec.valve.bus}#${p.spec.valve.unitId}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  for (const group of groups.values()) {
    const v0 = group[0]!.spec.valve;
    const used = group.flatMap((p) => [p.spec.valve.coil, p.spec.valve.feedbackInput ?? 0, p.spec.valve.startInput ?? 0, p.spec.valve.stopInput ?? 0]);
    const watchdogs = group.map((p) => p.spec.valve.watchdogMs).filter((w): w is number => w !== undefined);
    const relay = new SimRelayModule({
      unitId: v0.unitId,
      deviceIds: group.map((p) => `${p.spec.id}.valve`),
      channels: Math.max(8, Math.max(...used) + 1),
      // One watchdog per module, as on real modules: the shortest any of its valves asks for.
      watchdogMs: watchdogs.length ? Math.min(...watchdogs) : undefined,
      onCoil: (coil, on, t, source) => {
        const post = group.find((p) => p.spec.valve.coil === coil);
        o.wire.add({ kind: 'coil', bus: v0.bus, unitId: v0.unitId, devices: post ? [`${post.spec.id}.valve`] : [], coil, on, source });
        post?.commandValve(on, t);
      },
    });
    for (const p of group) {
      const v = p.spec.valve;
      if (v.feedbackInput !== undefined) relay.setInput(v.feedbackInput, (t) => !p.valveOpenAt(t));
      if (v.startInput !== undefined) relay.setInput(v.startInput, (t) => p.pressed('start', t));
      if (v.stopInput !== undefined) relay.setInput(v.stopInput, (t) => p.pressed('stop', t));
    }
    const slave = b.slaves.get(v0.bus)!;
    slave.addUnit(relay);
    b.relays.push(relay);
    for (const p of group) b.devices.set(`${p.spec.id}.valve`, { url: deviceUrl(slave.endpoint, v0.unitId), unitId: v0.unitId, endpoint: slave.endpoint });
  }
}

/** Everything that listens; on failure, what was opened is closed again. */
export async function buildStation(station: Station, posts: SimPost[], checkLoad: (t: number) => number, o: BuildOptions): Promise<Built> {
  const b: Built = { slaves: new Map(), relays: [], streams: [], readers: new Map(), scales: new Map(), scaleUnits: new Map(), devices: new Map(), endpoints: [] };
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
    buildRelays(posts, b, o);
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
