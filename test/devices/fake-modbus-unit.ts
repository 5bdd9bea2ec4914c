/**
 * An in-memory ModbusUnit for driver tests: register and coil tables, a log of
 * every call, injectable failures and delays, and a health state that mimics
 * the bus arbiter (1-2 consecutive failures = degraded, 3+ = offline, a good
 * exchange = online).
 */
import { Signal } from '../../protocols/signal.ts';
import { FillgateError } from '../../protocols/errors.ts';
import type { CoilWriteOptions, DeviceHealth, ModbusUnit, ReadOptions } from '../../protocols/modbus/types.ts';

export type FakeOp =
  | 'readHoldingRegisters'
  | 'readInputRegisters'
  | 'readCoils'
  | 'readDiscreteInputs'
  | 'writeCoil'
  | 'writeCoils'
  | 'writeRegister'
  | 'writeRegisters';

export interface FakeCall {
  op: FakeOp;
  address: number;
  count?: number;
  value?: number | boolean | number[];
  /** Real time (performance.now) when the call was made. */
  t: number;
  /** A coil write whose stillWanted() said no: dropped unsent (SUPERSEDED), nothing applied. */
  dropped?: boolean;
}

const SIZE = 65536;

export class FakeModbusUnit implements ModbusUnit {
  readonly unitId: number;
  readonly busUrl = 'fake://bus';
  readonly holding: number[] = new Array(SIZE).fill(0);
  readonly input: number[] = new Array(SIZE).fill(0);
  readonly coils: boolean[] = new Array(SIZE).fill(false);
  readonly discrete: boolean[] = new Array(SIZE).fill(false);
  readonly calls: FakeCall[] = [];
  readonly health = new Signal<DeviceHealth>();

  /** Every call fails while this is true. */
  failAll = false;
  /** The next N calls fail. */
  failNextCount = 0;
  /** Per-call failure decision; return an Error to fail this call. */
  failWhen?: (call: FakeCall) => Error | undefined;
  /** Delay before each call answers (ms). */
  delayMs = 0;
  /** Per-call delay (ms), overriding delayMs: e.g. an ON a module applies late, after a later OFF. */
  delayFor?: (call: FakeCall) => number | undefined;
  /** Runs after a successful coil write, e.g. to move a feedback input. */
  onWriteCoil?: (address: number, value: boolean) => void;

  private consecutiveFailures = 0;
  private state: DeviceHealth;

  constructor(unitId = 1) {
    this.unitId = unitId;
    this.state = { device: `fake#${unitId}`, state: 'online', framesDiscarded: 0, requests: 0, failures: 0 };
  }

  getHealth(): DeviceHealth {
    return { ...this.state };
  }

  callsOf(op: FakeOp): FakeCall[] {
    return this.calls.filter((c) => c.op === op);
  }

  readHoldingRegisters(address: number, count: number): Promise<number[]> {
    return this.run({ op: 'readHoldingRegisters', address, count }, () => this.holding.slice(address, address + count));
  }
  readInputRegisters(address: number, count: number): Promise<number[]> {
    return this.run({ op: 'readInputRegisters', address, count }, () => this.input.slice(address, address + count));
  }
  readCoils(address: number, count: number, opts: ReadOptions = {}): Promise<boolean[]> {
    opts.onSend?.();
    return this.run({ op: 'readCoils', address, count }, () => this.coils.slice(address, address + count));
  }
  readDiscreteInputs(address: number, count: number, opts: ReadOptions = {}): Promise<boolean[]> {
    opts.onSend?.();
    return this.run({ op: 'readDiscreteInputs', address, count }, () => this.discrete.slice(address, address + count));
  }
  /**
   * The fake "sends" at call time, so stillWanted() is asked then (as the bus
   * asks it when the frame goes on the wire); the delay is the module's.
   */
  writeCoil(address: number, value: boolean, opts: CoilWriteOptions = {}): Promise<void> {
    if (opts.stillWanted && !opts.stillWanted()) {
      this.calls.push({ op: 'writeCoil', address, value, t: performance.now(), dropped: true });
      return Promise.reject(new FillgateError('SUPERSEDED', 'fake unit: write no longer wanted, not sent', { address }));
    }
    opts.onSend?.();
    return this.run({ op: 'writeCoil', address, value }, () => {
      this.coils[address] = value;
      this.onWriteCoil?.(address, value);
    });
  }
  /** FC15: one call, every coil applied together (stillWanted asked at call time, as writeCoil). */
  writeCoils(address: number, values: boolean[], opts: CoilWriteOptions = {}): Promise<void> {
    if (opts.stillWanted && !opts.stillWanted()) {
      this.calls.push({ op: 'writeCoils', address, value: values.map(Number), t: performance.now(), dropped: true });
      return Promise.reject(new FillgateError('SUPERSEDED', 'fake unit: write no longer wanted, not sent', { address }));
    }
    opts.onSend?.();
    return this.run({ op: 'writeCoils', address, value: values.map(Number) }, () => {
      values.forEach((v, i) => {
        this.coils[address + i] = v;
        this.onWriteCoil?.(address + i, v);
      });
    });
  }
  writeRegister(address: number, value: number): Promise<void> {
    return this.run({ op: 'writeRegister', address, value }, () => {
      this.holding[address] = value;
    });
  }
  writeRegisters(address: number, values: number[]): Promise<void> {
    return this.run({ op: 'writeRegisters', address, value: values }, () => {
      values.forEach((v, i) => (this.holding[address + i] = v));
    });
  }

  /** Put register words (e.g. from encodeValue) at an address. */
  setHolding(address: number, words: number[]): void {
    words.forEach((w, i) => (this.holding[address + i] = w));
  }
  setInput(address: number, words: number[]): void {
    words.forEach((w, i) => (this.input[address + i] = w));
  }

  private async run<T>(partial: Omit<FakeCall, 't'>, answer: () => T): Promise<T> {
    const call: FakeCall = { ...partial, t: performance.now() };
    this.calls.push(call);
    this.state.requests++;
    const delay = this.delayFor?.(call) ?? this.delayMs;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    else await Promise.resolve();
    const err = this.pickFailure(call);
    if (err) {
      this.recordFailure(err);
      throw err;
    }
    const result = answer();
    this.recordSuccess();
    return result;
  }

  private pickFailure(call: FakeCall): Error | undefined {
    if (this.failAll) return new FillgateError('TIMEOUT', 'fake unit: no answer', { op: call.op });
    if (this.failNextCount > 0) {
      this.failNextCount--;
      return new FillgateError('TIMEOUT', 'fake unit: injected failure', { op: call.op });
    }
    return this.failWhen?.(call);
  }

  private recordFailure(err: Error): void {
    this.consecutiveFailures++;
    this.state.failures++;
    this.state.lastError = err.message;
    this.setState(this.consecutiveFailures >= 3 ? 'offline' : 'degraded');
  }

  private recordSuccess(): void {
    this.consecutiveFailures = 0;
    this.state.lastOkAt = performance.now();
    this.setState('online');
  }

  private setState(state: DeviceHealth['state']): void {
    if (this.state.state === state) return;
    this.state.state = state;
    this.health.emit(this.getHealth());
  }
}

/** Poll `cond` until it holds or `timeoutMs` passes (generous: shared 2-core machine). */
export async function eventually(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
