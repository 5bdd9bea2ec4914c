/**
 * A weighing indicator read over Modbus (RTU or TCP, whatever the ModbusUnit
 * behind it speaks). The register map is data (see modbus-scale-map.ts and the
 * presets); this file only runs the poll loop and turns reads into samples.
 *
 * Poll loop: setTimeout chaining, so a slow bus never causes overlapping polls;
 * each poll is due one period after the previous due time, so the rate does not
 * drift, and an overrun skips ahead instead of firing a burst to catch up. No
 * exception ends the loop (domain.md section 7: a polling loop must not die).
 */
import { Signal } from '../../protocols/signal.ts';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import type { DeviceHealth, ModbusUnit } from '../../protocols/modbus/types.ts';
import type { ScaleDriver, WeightSample } from '../types.ts';
import {
  decodeReading,
  decodeSetpoint,
  encodeSetpoint,
  imageFrom,
  neededRanges,
  planReads,
  validateScaleMap,
  type ReadBlock,
  type ScaleCommand,
  type ScaleRegisterMap,
} from './modbus-scale-map.ts';

export interface ModbusScaleOptions {
  id: string;
  unit: ModbusUnit;
  map: ScaleRegisterMap;
  /** Polls per second; default 10, at most 50. */
  pollHz?: number;
  /** Polls per second at the 'idle' pace (setPace); default pollHz. */
  idlePollHz?: number;
  /** Stamps samples (`at`). Poll timing itself always uses real time. */
  clock?: Clock;
}

export interface ScaleStats {
  polls: number;
  samples: number;
  /** Reads that failed (timeout, exception, unit set aside). */
  readFailures: number;
  /** Reads that succeeded but whose data was refused (bad status, net mode...). */
  rejected: number;
  lastError?: string;
}

export const DEFAULT_POLL_HZ = 10;
export const MAX_POLL_HZ = 50;

export class ModbusScaleDriver implements ScaleDriver {
  readonly id: string;
  readonly samples = new Signal<WeightSample>();
  readonly health = new Signal<DeviceHealth>();
  readonly map: ScaleRegisterMap;
  /** The configured (fast) poll period. */
  readonly periodMs: number;
  /** The poll period at the 'idle' pace. */
  readonly idlePeriodMs: number;
  readonly blocks: readonly ReadBlock[];

  private readonly unit: ModbusUnit;
  private readonly clock: Clock;
  private readonly stats: ScaleStats = { polls: 0, samples: 0, readFailures: 0, rejected: 0 };
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private nextDue = 0;
  private lastPollRejected = false;
  private unsubscribeUnit: (() => void) | undefined;
  private currentPoll: Promise<void> | undefined;
  private pace: 'fast' | 'idle' = 'fast';

  constructor(opts: ModbusScaleOptions) {
    const hz = opts.pollHz ?? DEFAULT_POLL_HZ;
    if (!(hz > 0) || hz > MAX_POLL_HZ) {
      throw new FillgateError('BAD_CONFIG', `${opts.id}: pollHz must be in (0, ${MAX_POLL_HZ}]`, { pollHz: hz });
    }
    const idleHz = opts.idlePollHz ?? hz;
    if (!(idleHz > 0) || idleHz > hz) {
      throw new FillgateError('BAD_CONFIG', `${opts.id}: idlePollHz must be in (0, pollHz]`, { idlePollHz: idleHz, pollHz: hz });
    }
    const errors = validateScaleMap(opts.map);
    if (errors.length) {
      throw new FillgateError('BAD_CONFIG', `${opts.id}: bad register map: ${errors.join('; ')}`, { errors });
    }
    this.id = opts.id;
    this.unit = opts.unit;
    this.map = opts.map;
    this.clock = opts.clock ?? systemClock;
    this.periodMs = 1000 / hz;
    this.idlePeriodMs = 1000 / idleHz;
    this.blocks = planReads(neededRanges(opts.map));
  }

  /** Health of the unit, named after this driver; a poll whose data was refused makes it 'degraded'. */
  getHealth(): DeviceHealth {
    const h = this.unit.getHealth();
    const out: DeviceHealth = { ...h, device: this.id, framesDiscarded: h.framesDiscarded + this.stats.rejected };
    if (this.lastPollRejected && h.state === 'online') {
      out.state = 'degraded';
      if (this.stats.lastError !== undefined) out.lastError = this.stats.lastError;
    }
    return out;
  }

  getStats(): ScaleStats {
    return { ...this.stats };
  }

  get canZero(): boolean {
    return this.map.commands?.zero !== undefined;
  }

  get canTare(): boolean {
    return this.map.commands?.tare !== undefined;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unsubscribeUnit = this.unit.health.on(() => this.health.emit(this.getHealth()));
    this.nextDue = performance.now();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribeUnit?.();
    this.unsubscribeUnit = undefined;
    // Let an in-flight read finish so no sample is emitted after stop() resolves.
    await this.currentPoll?.catch(() => undefined);
  }

  /** Zero the indicator (only where the map defines the command). */
  zero(): Promise<void> {
    return this.command('zero');
  }

  /** Tare the indicator (only where the map defines the command). */
  tare(): Promise<void> {
    return this.command('tare');
  }

  get currentPace(): 'fast' | 'idle' {
    return this.pace;
  }

  /**
   * Fast (the configured rate) or idle (idlePollHz). To fast: a poll now if the next one was due
   * later than one fast period from now, so a placed or scanned cylinder is read at once; a poll
   * on the wire is not doubled (the next one follows it at the fast period).
   */
  setPace(pace: 'fast' | 'idle'): void {
    if (pace === this.pace) return;
    this.pace = pace;
    if (pace !== 'fast' || !this.running || !this.timer) return;
    const now = performance.now();
    if (this.nextDue - now <= this.periodMs) return;
    clearTimeout(this.timer);
    this.nextDue = now;
    this.timer = setTimeout(() => this.tick(), 0);
  }

  private schedule(): void {
    if (!this.running) return;
    const now = performance.now();
    this.nextDue += this.pace === 'fast' ? this.periodMs : this.idlePeriodMs;
    // Overran (slow bus, busy CPU): start again from now rather than firing a burst.
    if (this.nextDue < now) this.nextDue = now;
    this.timer = setTimeout(() => this.tick(), this.nextDue - now);
  }

  private tick(): void {
    this.timer = undefined;
    if (!this.running) return;
    this.currentPoll = this.pollOnce()
      .then(() => undefined)
      .catch((err) => this.noteError(`poll loop: ${errorMessage(err)}`))
      .finally(() => {
        this.currentPoll = undefined;
        this.schedule();
      });
  }

  /** One poll: read the planned blocks, decode, emit. Exposed for tests and one-shot tools. */
  async pollOnce(): Promise<WeightSample | undefined> {
    this.stats.polls++;
    let values: number[][];
    try {
      values = [];
      for (const b of this.blocks) values.push(await this.read(b));
    } catch (err) {
      this.stats.readFailures++;
      this.noteError(errorMessage(err));
      return undefined;
    }
    const at = this.clock.now();
    const result = decodeReading(this.map, imageFrom([...this.blocks], values));
    if (!result.ok) {
      this.stats.rejected++;
      this.noteError(result.reason);
      this.setRejected(true);
      return undefined;
    }
    this.setRejected(false);
    const sample: WeightSample = { device: this.id, at, ...result.reading };
    this.stats.samples++;
    this.samples.emit(sample);
    return sample;
  }

  private read(b: ReadBlock): Promise<number[]> {
    return this.map.function === 3
      ? this.unit.readHoldingRegisters(b.address, b.count)
      : this.unit.readInputRegisters(b.address, b.count);
  }

  private noteError(message: string): void {
    this.stats.lastError = message;
  }

  private setRejected(rejected: boolean): void {
    if (this.lastPollRejected === rejected) return;
    this.lastPollRejected = rejected;
    this.health.emit(this.getHealth());
  }

  /** Whether the map documents a setpoint register (the independent overfill limit). */
  get hasSetpoint(): boolean {
    return this.map.setpoint !== undefined;
  }

  /**
   * Programs the indicator's setpoint at `grossKg` (rounded down to a whole count) and reads it
   * back: one write (FC06, or FC16 for two registers) and one read (FC03). Resolves with the
   * programmed limit in kg; rejects NOT_CONFIRMED when the read-back differs from what was
   * written (a unit that ignored the write, a wrong address, a locked setup), or with the bus
   * error. The caller must not open the valve unless this resolved.
   */
  async programLimit(grossKg: number): Promise<number> {
    const sp = this.map.setpoint;
    if (!sp) throw new FillgateError('BAD_CONFIG', `${this.id}: the register map defines no setpoint`, { device: this.id });
    const enc = encodeSetpoint(this.map, grossKg);
    if (enc.words.length === 1) await this.unit.writeRegister(sp.address, enc.words[0]!);
    else await this.unit.writeRegisters(sp.address, enc.words);
    const back = await this.unit.readHoldingRegisters(sp.address, enc.words.length);
    if (back.length !== enc.words.length || back.some((w, i) => w !== enc.words[i])) {
      let readKg: number | string;
      try {
        readKg = decodeSetpoint(this.map, back);
      } catch {
        readKg = back.join(',');
      }
      throw new FillgateError('NOT_CONFIRMED', `${this.id}: setpoint read back as ${readKg} kg, wrote ${enc.kg} kg`, {
        device: this.id,
        wrote: enc.words,
        read: back,
      });
    }
    return enc.kg;
  }

  private async command(name: 'zero' | 'tare'): Promise<void> {
    const cmd = this.map.commands?.[name];
    if (!cmd) {
      throw new FillgateError('BAD_CONFIG', `${this.id}: the register map defines no ${name} command`, { device: this.id });
    }
    await writeCommand(this.unit, cmd);
  }
}

/** Write a zero/tare command, and its release when the map asks for a pulse. */
async function writeCommand(unit: ModbusUnit, cmd: ScaleCommand): Promise<void> {
  if (cmd.kind === 'register') {
    await unit.writeRegister(cmd.address, cmd.value);
    if (cmd.pulseMs !== undefined) {
      await new Promise((r) => setTimeout(r, cmd.pulseMs));
      await unit.writeRegister(cmd.address, cmd.idleValue ?? 0);
    }
    return;
  }
  const on = cmd.value ?? true;
  await unit.writeCoil(cmd.address, on);
  if (cmd.pulseMs !== undefined) {
    await new Promise((r) => setTimeout(r, cmd.pulseMs));
    await unit.writeCoil(cmd.address, !on);
  }
}
