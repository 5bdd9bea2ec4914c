/**
 * Builds the station's devices from the config: one ModbusBus (one arbiter)
 * per configured bus, and per post a scale, a reader, a valve and the optional
 * start/stop inputs. Nothing here decides anything about filling.
 */
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import { createLink } from '../../protocols/link/create.ts';
import type { Clock } from '../../protocols/clock.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { ModbusScaleDriver } from '../../devices/scale/modbus-scale.ts';
import { StreamScaleDriver } from '../../devices/scale/stream-scale.ts';
import { resolveScaleMap, type ScaleMapOverrides } from '../../devices/scale/presets/index.ts';
import { LineReaderDriver } from '../../devices/reader/line-reader.ts';
import { ModbusValveDriver } from '../../devices/valve/modbus-valve.ts';
import { ModbusInputDriver } from '../../devices/io/modbus-input.ts';
import type { CodeRule } from '../../devices/codes.ts';
import type { Driver, InputDriver, ReaderDriver, ScaleDriver, ValveDriver, DeviceHealth } from '../../devices/types.ts';
import type { GatewayConfig } from '../config/config.ts';
import { setpointLimitOf } from '../config/checks.ts';
import type { PostConfig, ScaleConfig } from '../config/schema.ts';
import type { ScaleFormatOptions } from '../../protocols/scale/index.ts';
import type { FrameTap } from '../../protocols/link/reconnecting.ts';
import type { LogFactory, Logger } from '../log.ts';
import { stationIso, type StationTimeSettings } from '../station-time.ts';
import { t } from '../i18n/index.ts';
import { buildLeakDrivers, type LeakDrivers } from './leak-devices.ts';

export interface PostDevices {
  scale: ScaleDriver;
  /** The scale's own setpoint as a second, independent overfill limit (issue 9 point 7), when on for this post. */
  setpointLimit?: SetpointLimit;
  reader: ReaderDriver;
  valve: ValveDriver;
  startInput?: InputDriver;
  stopInput?: InputDriver;
}

export interface StationDevices {
  buses: Map<string, ModbusBus>;
  posts: Map<string, PostDevices>;
  checkScale?: ScaleDriver;
  /** The reader at the check-weigh scale, when configured (issue 10 point 3). */
  checkReader?: ReaderDriver;
  /** Modbus gas detector controllers and cut-off valves (leak-devices.ts); the interlock is leak.ts's. */
  leak: LeakDrivers;
  /** Every driver, valves first so that start() closes them before anything else moves. */
  drivers: Driver[];
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Every driver's health as people and /status read it (healthView). */
  health(): DeviceHealthView[];
}

/** A device's health for people: wall-clock times at the station's offset, no stale error on an online device. */
export interface DeviceHealthView extends Omit<DeviceHealth, 'lastOkAt' | 'setAsideUntil'> {
  /** When the device last answered correctly (ISO 8601 with the station's offset). */
  lastOkAt?: string;
  /** Until when the bus arbiter skips it (ISO 8601 with the station's offset). */
  setAsideUntil?: string;
}

/**
 * Issue 12 point 7: the drivers keep monotonic stamps (they time staleness with them) and
 * keep the last error after a recovery; what a person reads is the wall-clock time, and an
 * online device shows no error it has already got over.
 */
export function healthView(h: DeviceHealth, clock: Clock, cfg: StationTimeSettings): DeviceHealthView {
  const { lastOkAt, setAsideUntil, lastError, ...rest } = h;
  const wall = (mono: number) => stationIso(cfg, Math.round(clock.wall() - (clock.now() - mono)));
  return {
    ...rest,
    ...(lastError !== undefined && h.state !== 'online' ? { lastError } : {}),
    ...(lastOkAt !== undefined ? { lastOkAt: wall(lastOkAt) } : {}),
    ...(setAsideUntil !== undefined ? { setAsideUntil: wall(setAsideUntil) } : {}),
  };
}

/**
 * Frame log for one link or bus: rx/tx hex at trace under `link.<device>`. The
 * hex string is built only when trace is enabled for that namespace, so a
 * station at info pays one level check per chunk (engineering.md example 11).
 */
export function frameLogger(log: Logger): FrameTap {
  return (dir, bytes) => {
    if (!log.isLevelEnabled('trace')) return;
    log.trace({ dir, len: bytes.length, hex: bytes.toString('hex') }, dir);
  };
}

/** The station's buses, each built on first use, so the valves' buses can exist before the others. */
export class StationBuses {
  readonly buses = new Map<string, ModbusBus>();
  private readonly opened = new Set<string>();
  constructor(
    private readonly cfg: GatewayConfig,
    private readonly clock: Clock,
    private readonly tap: TapFor,
  ) {}

  get(name: string): ModbusBus {
    let b = this.buses.get(name);
    if (b) return b;
    const c = this.cfg.buses[name];
    if (!c) throw new Error(`bus "${name}" is not configured`);
    b = new ModbusBus(c.url, { gapMs: c.gapMs, timeoutMs: c.timeoutMs, retries: c.retries, setAsideAfter: c.setAsideAfter, setAsideMs: c.setAsideMs, clock: this.clock, onFrame: this.tap(name) });
    this.buses.set(name, b);
    return b;
  }

  unitOf: UnitOf = (bus, unit, name) => this.get(bus).unit(unit, { name });

  /**
   * Opens every bus built so far that was not opened yet; settles when each
   * first attempt has. A bus that cannot open now keeps retrying by itself
   * (its devices report offline meanwhile); `onError` hears why.
   */
  async openNew(onError?: (bus: string, err: unknown) => void): Promise<void> {
    const fresh = [...this.buses].filter(([name]) => !this.opened.has(name));
    for (const [name] of fresh) this.opened.add(name);
    await Promise.all(fresh.map(([name, b]) => b.open().catch((err) => onError?.(name, err))));
  }

  async close(): Promise<void> {
    await Promise.all([...this.buses.values()].map((b) => b.close().catch(() => undefined)));
  }
}

/**
 * Every post's valve and the buses they are on, and nothing else: what start
 * needs before it does anything that can fail (domain.md section 4).
 */
export interface StationValves {
  buses: StationBuses;
  /** By post id. */
  valves: Map<string, ValveDriver>;
}

export function buildValves(cfg: GatewayConfig, clock: Clock, logs?: LogFactory): StationValves {
  const tap = (device: string) => (logs ? frameLogger(logs(`link.${device}`)) : undefined);
  const buses = new StationBuses(cfg, clock, tap);
  const valves = new Map<string, ValveDriver>();
  for (const p of cfg.posts) valves.set(p.id, buildValve(p, buses.unitOf, clock));
  return { buses, valves };
}

/**
 * `logs` (optional) enables frame logs: each bus under link.<bus name>, each
 * stream link under link.<device id>. `prebuilt` are the valves buildValves made
 * (and maybe already started); built here when absent.
 */
export function buildDevices(cfg: GatewayConfig, clock: Clock, logs?: LogFactory, prebuilt?: StationValves): StationDevices {
  const tap = (device: string) => (logs ? frameLogger(logs(`link.${device}`)) : undefined);
  const { buses, valves: valveMap } = prebuilt ?? buildValves(cfg, clock, logs);
  const rules = cfg.codes as unknown as CodeRule[];
  const posts = new Map<string, PostDevices>();
  for (const p of cfg.posts) posts.set(p.id, { ...buildPost(p, buses.unitOf, rules, clock, tap), valve: valveMap.get(p.id)! });
  const checkScale = cfg.checkScale ? buildScale('check.scale', cfg.checkScale, buses.unitOf, clock, tap) : undefined;
  const cr = cfg.checkReader;
  const checkReader = cr
    ? new LineReaderDriver({ id: 'check.reader', link: createLink(cr.link, { onFrame: tap('check.reader') }), rules, prefix: cr.prefix, suffix: cr.suffix, dedupMs: cr.dedupMs, clock })
    : undefined;

  const leak = buildLeakDrivers(cfg, buses.unitOf, clock);
  const valves = [...valveMap.values()];
  const others: Driver[] = [...leak.cutoffs, ...leak.detectors];
  for (const d of posts.values()) others.push(d.scale, d.reader, ...(d.startInput ? [d.startInput] : []), ...(d.stopInput ? [d.stopInput] : []));
  if (checkScale) others.push(checkScale);
  if (checkReader) others.push(checkReader);
  const drivers: Driver[] = [...valves, ...others];

  return {
    buses: buses.buses,
    posts,
    checkScale,
    ...(checkReader ? { checkReader } : {}),
    leak,
    drivers,
    async start() {
      // A bus that cannot open now keeps retrying by itself; its devices report offline meanwhile.
      await buses.openNew();
      // Every valve's OFF was queued first (buildValves at station start, or here: closes jump the
      // bus queue); the scales, readers and inputs start at once rather than after each valve's
      // confirmation: an unreachable relay module must not hold every scale back by its close
      // timeout per valve. A valve already started returns at once.
      const valvesClosed = Promise.all(valves.map((v) => v.start().catch(() => undefined)));
      await Promise.all([valvesClosed, ...others.map((d) => d.start().catch(() => undefined))]);
    },
    async stop() {
      // Valves first: de-energise before anything else goes away.
      await Promise.all(valves.map((v) => v.stop().catch(() => undefined)));
      await Promise.all(others.map((d) => d.stop().catch(() => undefined)));
      await buses.close();
    },
    health: () => drivers.map((d) => healthView(d.getHealth(), clock, cfg)),
  };
}

/**
 * Why this post's valve cannot be used now, for a DEVICE_OFFLINE refusal (issue 12 point 7):
 * "relay module unreachable (ECONNREFUSED 127.0.0.1:15020)"; undefined when it answers.
 */
export function valveProblem(valve: Pick<ValveDriver, 'getHealth'>): string | undefined {
  const h = valve.getHealth();
  if (h.state !== 'offline') return undefined;
  const err = h.lastError ?? '';
  // "link down: connect ECONNREFUSED 127.0.0.1:15020" → "ECONNREFUSED 127.0.0.1:15020"
  const cause = /\b(E[A-Z]{3,}\b[^,;()]*)/.exec(err)?.[1]?.trim() ?? err.replace(/^link down: /, '');
  return t('device.relayUnreachable', 'en', { cause: cause || t('device.notReachedYet', 'en') });
}

/** Programs the indicator's setpoint at a gross limit and reads it back; resolves with the programmed kg. */
export interface SetpointLimit {
  programLimit(grossKg: number): Promise<number>;
}

type UnitOf = (bus: string, unit: number, name: string) => ReturnType<ModbusBus['unit']>;
type TapFor = (device: string) => FrameTap | undefined;

function buildPost(p: PostConfig, unitOf: UnitOf, rules: CodeRule[], clock: Clock, tap: TapFor): Omit<PostDevices, 'valve'> {
  const scale = buildScale(`${p.id}.scale`, p.scale, unitOf, clock, tap);
  const reader = new LineReaderDriver({
    id: `${p.id}.reader`,
    link: createLink(p.reader.link, { onFrame: tap(`${p.id}.reader`) }),
    rules,
    prefix: p.reader.prefix,
    suffix: p.reader.suffix,
    dedupMs: p.reader.dedupMs,
    clock,
  });
  const input = (name: 'start' | 'stop', c: PostConfig['startInput']) =>
    c
      ? new ModbusInputDriver({ id: `${p.id}.${name}`, unit: unitOf(c.bus, c.unit, `${p.id}.${name}`), kind: c.kind, address: c.address, pollMs: Math.round(1000 / c.pollHz), clock })
      : undefined;
  const limit = setpointLimitOf(p.scale);
  if (limit.on && !limit.available) throw new Error(`${p.id}.scale: setpointLimit is on but ${limit.reason}`);
  const setpointLimit = limit.on && scale instanceof ModbusScaleDriver ? { programLimit: (kg: number) => scale.programLimit(kg) } : undefined;
  return { scale, reader, ...(setpointLimit ? { setpointLimit } : {}), startInput: input('start', p.startInput), stopInput: input('stop', p.stopInput) };
}

function buildValve(p: PostConfig, unitOf: UnitOf, clock: Clock): ValveDriver {
  return new ModbusValveDriver({
    id: `${p.id}.valve`,
    unit: unitOf(p.valve.bus, p.valve.unit, `${p.id}.valve`),
    coil: p.valve.coil,
    feedback: p.valve.feedback,
    confirmTimeoutMs: p.valve.confirmTimeoutMs,
    keepAliveMs: p.valve.keepAliveMs,
    clock,
  });
}

function buildScale(id: string, s: ScaleConfig, unitOf: UnitOf, clock: Clock, tap: TapFor): ScaleDriver {
  if (s.kind === 'stream') {
    return new StreamScaleDriver({ id, link: createLink(s.link, { onFrame: tap(id) }), format: s.format, formatOptions: s.formatOptions as ScaleFormatOptions | undefined, staleAfterMs: s.staleAfterMs, clock,
      plausibility: { ...s.plausibility, ...(s.capacityKg !== undefined ? { capacityKg: s.capacityKg } : {}) } });
  }
  let map;
  try {
    map = resolveScaleMap(s.preset, (s.overrides ?? {}) as ScaleMapOverrides);
  } catch (err) {
    throw new Error(`${id}: ${errorMessage(err)}`);
  }
  return new ModbusScaleDriver({ id, unit: unitOf(s.bus, s.unit, id), map, pollHz: s.pollHz, clock });
}
