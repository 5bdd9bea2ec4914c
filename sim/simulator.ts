/**
 * The running simulator: posts with their cylinders, the check-weigh scale,
 * faults, and the direct methods that the HTTP control interface, the stdin
 * console and in-process tests all call.
 */
import { type Clock, systemClock } from '../protocols/clock.ts';
import { FillgateError } from '../protocols/errors.ts';
import { type Built, type DeviceEndpoint, buildStation, closeBuilt } from './build.ts';
import { type Fault, type FaultKind, FaultBook } from './faults.ts';
import { type Button, type CylinderInHand, SimPost } from './post.ts';
import type { SimReading } from './devices/scale.ts';
import type { CylinderSpec, Station } from './station.ts';
import { WireLog } from './wire/wire-log.ts';
import { type LeakSimState, leakState, reopenCutoff, setGas } from './leak.ts';

export interface SimulatorOptions {
  /** Ignore the station file's ports and take free ones (tests). */
  portsFromZero?: boolean;
  /** Where pty links go; default the station's ptyDir. */
  ptyDir?: string;
  clock?: Clock;
  /** Entries the wire log keeps (a ring); default 200,000. */
  wireLogSize?: number;
  /**
   * Relay modules' comms watchdogs off: for tests about what the gateway itself
   * writes (a watchdog would clear the coil and hide a gateway that left it ON).
   */
  noWatchdog?: boolean;
}

export interface CylinderState {
  code: string;
  tareKg: number;
  gasKg: number;
  grossKg: number;
}

export interface PostState {
  id: string;
  medium: string;
  cylinder: CylinderState | null;
  valve: { coil: boolean; commandedOpen: boolean; open: boolean; stuckOpen: boolean; closeDelayMs: number; energised: boolean; setpointCut: boolean };
  scale: SimReading;
  /** The Modbus indicator's setpoint 1 (kg, 0 = not programmed) and its output, where its map has one. */
  setpoint?: { kg: number; output: boolean };
  buttons: Record<Button, boolean>;
}

export interface SimState {
  time: number;
  posts: PostState[];
  check: { cylinder: CylinderState | null; scale: SimReading } | null;
  faults: Fault[];
  relays: { unitId: number; coils: boolean[]; watchdogMs?: number; watchdogEnabled: boolean; watchdogTrips: number }[];
  /** Gas detectors (sensors' %LEL, level, fault) and emergency cut-off valves (coil, closed). */
  leak: LeakSimState;
  warnings: string[];
}

/** An error for the control interface: 400 bad input, 404 unknown thing, 409 not possible now. */
function simError(status: 400 | 404 | 409, message: string, context: Record<string, unknown> = {}): FillgateError {
  return new FillgateError('BAD_PAYLOAD', message, { ...context, httpStatus: status });
}

export class SimulatorCore {
  readonly posts = new Map<string, SimPost>();
  readonly faults: FaultBook;
  readonly clock: Clock;
  readonly warnings: string[] = [];
  /** Every request and reply the simulated devices saw, in order (sim/wire/wire-log.ts). */
  readonly wire: WireLog;
  /** Cylinders off any scale, by code, with their current gas. */
  private readonly stock = new Map<string, CylinderInHand>();
  private check: CylinderInHand | undefined;
  private built: Built | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly station: Station, private readonly opts: SimulatorOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.wire = new WireLog(opts.wireLogSize);
    for (const p of station.posts) this.posts.set(p.id, new SimPost(p));
    for (const c of station.cylinders) this.stock.set(c.code, { spec: c, gasKg: c.residualKg });
    const devices = new Set<string>();
    for (const id of this.posts.keys()) for (const d of ['scale', 'reader', 'valve']) devices.add(`${id}.${d}`);
    if (station.checkScale) devices.add('check.scale');
    if (station.checkReader) devices.add('check.reader');
    for (const g of station.gasDetectors) devices.add(`${g.id}.detector`);
    for (const c of station.cutoffValves) devices.add(`${c.id}.cutoff`);
    this.faults = new FaultBook(devices);
    this.faults.onChange = (device, fault, kind) => this.applyFault(device, fault, kind);
  }

  async start(): Promise<void> {
    this.built = await buildStation(
      this.station,
      [...this.posts.values()],
      () => (this.check ? this.check.spec.tareKg + this.check.gasKg : 0),
      {
        portsFromZero: this.opts.portsFromZero ?? false,
        ptyDir: this.opts.ptyDir ?? this.station.ptyDir,
        clock: this.clock,
        faults: this.faults,
        warnings: this.warnings,
        wire: this.wire,
      },
    );
    if (this.opts.noWatchdog) this.setWatchdog(false);
    for (const s of this.built.streams) s.start();
    // Check often enough that a trip is late by at most a few ms on a quiet machine.
    this.watchdogTimer = setInterval(() => {
      const now = this.clock.now();
      for (const r of this.built?.relays ?? []) r.checkWatchdog(now);
      // Setpoint outputs follow the indicators' gross as often (issue 9 point 7).
      for (const u of this.built?.scaleUnits.values() ?? []) u.checkSetpoint(now);
      // Cut-off valves finish closing on time (and log it) whether or not anyone reads their feedback.
      for (const v of this.built?.cutoffs.values() ?? []) v.isClosed(now);
    }, 10);
  }

  async close(): Promise<void> {
    clearInterval(this.watchdogTimer);
    for (const t of this.timers) clearTimeout(t);
    if (this.built) await closeBuilt(this.built);
    this.built = undefined;
  }

  private get b(): Built {
    if (!this.built) throw simError(409, 'simulator is not running');
    return this.built;
  }

  /** Device id → where a gateway connects (bus URL and unit id for Modbus units). */
  deviceEndpoints(): Record<string, { url: string; unitId?: number }> {
    const out: Record<string, { url: string; unitId?: number }> = {};
    for (const [id, d] of this.b.devices) out[id] = d.unitId === undefined ? { url: d.url } : { url: d.endpoint.url, unitId: d.unitId };
    return out;
  }

  /** Device id → one URL; Modbus units carry their unit id as `#unit=N`. */
  endpoints(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [id, d] of this.b.devices) out[id] = d.url;
    return out;
  }

  device(id: string): DeviceEndpoint | undefined {
    return this.built?.devices.get(id);
  }

  post(id: string): SimPost {
    const p = this.posts.get(id);
    if (!p) throw simError(404, `unknown post '${id}' (posts: ${[...this.posts.keys()].join(', ')})`, { post: id });
    return p;
  }

  /** Puts a cylinder from the station file (or an ad-hoc one with tareKg) on a post's scale. */
  place(postId: string, code: string, adHoc?: { tareKg?: number; residualKg?: number }): CylinderState {
    const post = this.post(postId);
    if (post.cylinder) throw simError(409, `post ${postId} already has cylinder ${post.cylinder.code}`);
    const c = this.takeFromStock(code, adHoc);
    post.place(c, this.clock.now());
    this.disturb(`${postId}.scale`);
    return this.cylinderState(post.cylinder!, post.gasKg(this.clock.now())!);
  }

  remove(postId: string): CylinderState | null {
    const post = this.post(postId);
    const c = post.remove(this.clock.now());
    if (!c) return null;
    this.disturb(`${postId}.scale`);
    this.stock.set(c.spec.code, c);
    return this.cylinderState(c.spec, c.gasKg);
  }

  /** The reader sends a code line: by default the code of the cylinder on the scale. Returns false if nobody received it. */
  scan(postId: string, code?: string): boolean {
    const post = this.post(postId);
    const c = code ?? post.cylinder?.code;
    if (!c) throw simError(409, `post ${postId} has no cylinder to scan; give a code`);
    return this.b.readers.get(postId)!.send(c);
  }

  badge(postId: string, badge: string): boolean {
    this.post(postId);
    if (!badge) throw simError(400, 'badge is required');
    return this.b.readers.get(postId)!.send(badge);
  }

  /** A momentary button press: the input reads ON for holdMs (default 500, longer than a 100 ms poll). */
  press(postId: string, button: Button, holdMs = 500): void {
    if (button !== 'start' && button !== 'stop') throw simError(400, `button must be 'start' or 'stop', got '${String(button)}'`);
    const post = this.post(postId);
    const input = button === 'start' ? post.spec.valve.startInput : post.spec.valve.stopInput;
    if (input === undefined) throw simError(409, `post ${postId} has no ${button} input in the station file`);
    post.press(button, this.clock.now(), holdMs);
  }

  /**
   * A manual bypass at a post (issue 10 point 5): gas flows into the cylinder on the scale at kgPerMin
   * with the fill valve closed, as when someone fills outside the system; 0 closes it.
   */
  bypass(postId: string, kgPerMin: number): { kgPerMin: number } {
    if (!(Number.isFinite(kgPerMin) && kgPerMin >= 0 && kgPerMin <= 120)) throw simError(400, `kgPerMin must be 0..120, got ${kgPerMin}`);
    const post = this.post(postId);
    post.setBypass(kgPerMin, this.clock.now());
    return { kgPerMin: post.bypassKgPerMin };
  }

  /** Moves the post's cylinder to the check-weigh scale. */
  toCheck(postId: string): CylinderState {
    if (!this.station.checkScale) throw simError(409, 'the station has no check-weigh scale');
    if (this.check) throw simError(409, `check scale already has cylinder ${this.check.spec.code}`);
    const c = this.post(postId).remove(this.clock.now());
    if (!c) throw simError(409, `post ${postId} has no cylinder`);
    this.check = c;
    this.disturb(`${postId}.scale`);
    this.disturb('check.scale');
    // An RFID antenna at the check scale reads the tag of what is put on it.
    this.b.readers.get('check')?.send(c.spec.code);
    return this.cylinderState(c.spec, c.gasKg);
  }

  /** The check scale's reader sends a code line (default: the code of the cylinder on the check scale). */
  scanCheck(code?: string): boolean {
    const reader = this.b.readers.get('check');
    if (!reader) throw simError(409, 'the station has no check-scale reader');
    const c = code ?? this.check?.spec.code;
    if (!c) throw simError(409, 'nothing on the check scale to scan; give a code');
    return reader.send(c);
  }

  /** A badge on the check scale's reader (the checker signs there). */
  badgeCheck(badge: string): boolean {
    const reader = this.b.readers.get('check');
    if (!reader) throw simError(409, 'the station has no check-scale reader');
    if (!badge) throw simError(400, 'badge is required');
    return reader.send(badge);
  }

  removeCheck(): CylinderState | null {
    const c = this.check;
    if (!c) return null;
    this.check = undefined;
    this.disturb('check.scale');
    this.stock.set(c.spec.code, c);
    return this.cylinderState(c.spec, c.gasKg);
  }

  /** Gas (%LEL) and/or a fault at a detector's sensor; `no-answer` on `<detector>.detector` makes it silent. */
  gas(sensor: string, change: { lel?: number; fault?: boolean }) {
    return setGas(this.b, sensor, change);
  }

  /** Reopens an emergency cut-off valve by hand (refused while its trip coil is energised). */
  reopenCutoff(id: string): { closed: boolean } {
    return reopenCutoff(this.b, id, this.clock.now());
  }

  /** Turns every relay module's comms watchdog on or off (tests of the gateway's own writes turn it off). */
  setWatchdog(enabled: boolean): void {
    for (const r of this.b.relays) r.watchdogEnabled = enabled;
  }

  setFault(input: unknown): Fault {
    try {
      return this.faults.set(input);
    } catch (err) {
      throw simError(400, (err as Error).message);
    }
  }

  clearFaults(device?: string, kind?: FaultKind): void {
    this.faults.clear(device, kind);
  }

  state(): SimState {
    const t = this.clock.now();
    const b = this.b;
    return {
      time: t,
      posts: [...this.posts.values()].map((p) => this.postState(p, t)),
      check: this.station.checkScale
        ? { cylinder: this.check ? this.cylinderState(this.check.spec, this.check.gasKg) : null, scale: b.scales.get('check.scale')!.read(t) }
        : null,
      faults: this.faults.list(),
      relays: b.relays.map((r) => ({ unitId: r.unitId, coils: [...r.coils], watchdogMs: r.watchdogMs, watchdogEnabled: r.watchdogEnabled, watchdogTrips: r.watchdogTrips })),
      leak: leakState(b, t),
      warnings: [...this.warnings],
    };
  }

  /** Internal parts for tests and tools (servers, relay modules, scales). */
  get parts(): Built {
    return this.b;
  }

  private postState(p: SimPost, t: number): PostState {
    return {
      id: p.spec.id,
      medium: p.spec.medium,
      cylinder: p.cylinder ? this.cylinderState(p.cylinder, p.gasKg(t)!) : null,
      valve: {
        coil: p.coil,
        commandedOpen: p.valveCommandedOpen,
        open: p.valveOpenAt(t),
        stuckOpen: p.stuckOpen,
        closeDelayMs: p.closeDelayMs,
        energised: p.energised,
        setpointCut: p.setpointCut,
      },
      scale: this.b.scales.get(`${p.spec.id}.scale`)!.read(t),
      ...this.setpointState(`${p.spec.id}.scale`),
      buttons: { start: p.pressed('start', t), stop: p.pressed('stop', t) },
    };
  }

  private setpointState(scaleId: string): { setpoint?: { kg: number; output: boolean } } {
    const u = this.b.scaleUnits.get(scaleId);
    return u?.hasSetpoint ? { setpoint: { kg: u.setpointKg, output: u.output } } : {};
  }

  private disturb(scaleId: string): void {
    this.built?.scales.get(scaleId)?.disturb(this.clock.now());
  }

  private cylinderState(spec: CylinderSpec, gasKg: number): CylinderState {
    const r = (x: number) => Math.round(x * 1e6) / 1e6;
    return { code: spec.code, tareKg: spec.tareKg, gasKg: r(gasKg), grossKg: r(spec.tareKg + gasKg) };
  }

  private takeFromStock(code: string, adHoc?: { tareKg?: number; residualKg?: number }): CylinderInHand {
    if (!code) throw simError(400, 'code is required');
    const inStock = this.stock.get(code);
    if (inStock) {
      this.stock.delete(code);
      return inStock;
    }
    const elsewhere = [...this.posts.values()].find((p) => p.cylinder?.code === code);
    if (elsewhere || this.check?.spec.code === code) throw simError(409, `cylinder ${code} is already on ${elsewhere ? `post ${elsewhere.spec.id}` : 'the check scale'}`);
    if (adHoc?.tareKg === undefined || !(adHoc.tareKg > 0)) {
      throw simError(404, `unknown cylinder '${code}': not in the station file; give tareKg (and residualKg) for an ad-hoc cylinder`);
    }
    return { spec: { code, tareKg: adHoc.tareKg, residualKg: adHoc.residualKg ?? 0 }, gasKg: adHoc.residualKg ?? 0 };
  }

  private applyFault(device: string, fault: Fault | undefined, kind: FaultKind | undefined): void {
    const [postId, role] = device.split('.');
    const t = this.clock.now();
    const post = role === 'valve' ? this.posts.get(postId!) : undefined;
    if (kind === 'link-drop' && fault?.kind === 'link-drop') {
      this.built?.devices.get(device)?.endpoint.drop(fault.ms);
      // A drop is an event, not a state: it leaves the fault list when the link is back.
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.faults.get(device, 'link-drop') === fault) this.faults.clear(device, 'link-drop');
      }, fault.ms);
      this.timers.add(timer);
    }
    if (kind === 'stuck-open') post?.setStuckOpen(fault !== undefined, t);
    if (kind === 'welded-relay') post?.setWelded(fault !== undefined, t);
    if (kind === 'slow-valve') post?.setCloseDelay(fault?.kind === 'slow-valve' ? fault.closeDelayMs : undefined);
  }
}
