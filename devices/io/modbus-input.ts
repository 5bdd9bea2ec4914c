/**
 * A digital input on a Modbus I/O module (a post's start or stop button, a
 * nozzle switch), polled, reported as edges.
 *
 * The first good read only sets the baseline: a button held (or stuck) while the
 * gateway starts is not a press. A change must be seen on `debounceReads`
 * consecutive polls before it becomes an edge. Read failures are counted, the
 * last value is kept, and the loop never ends on an exception.
 */
import { Signal } from '../../protocols/signal.ts';
import { FillgateError, errorMessage } from '../../protocols/errors.ts';
import { systemClock, type Clock } from '../../protocols/clock.ts';
import type { DeviceHealth, ModbusUnit } from '../../protocols/modbus/types.ts';
import type { InputDriver } from '../types.ts';

export interface ModbusInputOptions {
  id: string;
  unit: ModbusUnit;
  /** 'discrete' = discrete input (FC02), 'coil' = coil read back (FC01). */
  kind: 'discrete' | 'coil';
  address: number;
  /** Report the inverse of the wire value (normally-closed contacts, e.g. a stop button). */
  invert?: boolean;
  /** Poll period; default 50 ms (a button press lasts well over 100 ms). */
  pollMs?: number;
  /** Consecutive equal reads before a change counts; default 1. */
  debounceReads?: number;
  clock?: Clock;
}

export class ModbusInputDriver implements InputDriver {
  readonly id: string;
  readonly edges = new Signal<{ device: string; value: boolean; at: number }>();
  readonly health = new Signal<DeviceHealth>();

  private readonly unit: ModbusUnit;
  private readonly kind: 'discrete' | 'coil';
  private readonly address: number;
  private readonly invert: boolean;
  private readonly pollMs: number;
  private readonly debounceReads: number;
  private readonly clock: Clock;

  private current: boolean | undefined;
  private candidate: boolean | undefined;
  private candidateCount = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private unsubscribeUnit: (() => void) | undefined;
  readFailures = 0;
  lastError: string | undefined;

  constructor(opts: ModbusInputOptions) {
    const bad = (msg: string) => new FillgateError('BAD_CONFIG', `${opts.id}: ${msg}`, { device: opts.id });
    if (opts.kind !== 'discrete' && opts.kind !== 'coil') throw bad('kind must be discrete or coil');
    if (!Number.isInteger(opts.address) || opts.address < 0 || opts.address > 0xffff) throw bad('address must be 0..65535');
    if (opts.pollMs !== undefined && !(opts.pollMs >= 10)) throw bad('pollMs must be >= 10');
    if (opts.debounceReads !== undefined && !(Number.isInteger(opts.debounceReads) && opts.debounceReads >= 1)) {
      throw bad('debounceReads must be an integer >= 1');
    }
    this.id = opts.id;
    this.unit = opts.unit;
    this.kind = opts.kind;
    this.address = opts.address;
    this.invert = opts.invert ?? false;
    this.pollMs = opts.pollMs ?? 50;
    this.debounceReads = opts.debounceReads ?? 1;
    this.clock = opts.clock ?? systemClock;
  }

  /** The debounced value, or undefined before the first good read. */
  get value(): boolean | undefined {
    return this.current;
  }

  getHealth(): DeviceHealth {
    return { ...this.unit.getHealth(), device: this.id };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unsubscribeUnit = this.unit.health.on(() => this.health.emit(this.getHealth()));
    this.tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribeUnit?.();
    this.unsubscribeUnit = undefined;
    await this.inFlight;
  }

  /** One read; emits an edge when a debounced change is seen. Exposed for tests and tools. */
  async pollOnce(): Promise<void> {
    let raw: boolean;
    try {
      const bits =
        this.kind === 'discrete'
          ? await this.unit.readDiscreteInputs(this.address, 1)
          : await this.unit.readCoils(this.address, 1);
      if (bits.length < 1) throw new FillgateError('BAD_PAYLOAD', 'read returned no bits');
      raw = bits[0] === true;
    } catch (err) {
      this.readFailures++;
      this.lastError = errorMessage(err);
      return;
    }
    this.accept(raw !== this.invert);
  }

  private accept(value: boolean): void {
    if (this.current === undefined) {
      this.current = value; // baseline, not an edge
      return;
    }
    if (value === this.current) {
      this.candidate = undefined;
      this.candidateCount = 0;
      return;
    }
    this.candidateCount = this.candidate === value ? this.candidateCount + 1 : 1;
    this.candidate = value;
    if (this.candidateCount < this.debounceReads) return;
    this.current = value;
    this.candidate = undefined;
    this.candidateCount = 0;
    this.edges.emit({ device: this.id, value, at: this.clock.now() });
  }

  private tick(): void {
    this.timer = undefined;
    if (!this.running) return;
    this.inFlight = this.pollOnce()
      .catch(() => undefined)
      .finally(() => {
        this.inFlight = undefined;
        if (this.running) this.timer = setTimeout(() => this.tick(), this.pollMs);
      });
  }
}
