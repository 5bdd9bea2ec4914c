/**
 * How a driver sees one unit on a bus (ModbusUnit, types.ts). Each call checks
 * its arguments against the Modbus limits (Modbus Application Protocol v1.1b3,
 * section 6: at most 125 registers / 2000 bits per read, 123 registers /
 * 1968 coils per write) and hands the request to the bus arbiter. Bad arguments reject with
 * BAD_PAYLOAD without touching the wire or the unit's health.
 */
import { FillgateError } from '../errors.ts';
import type { Signal } from '../signal.ts';
import type { ModbusClient } from './connection.ts';
import type { UnitHealth } from './health.ts';
import type { CoilWriteOptions, DeviceHealth, ModbusUnit, ReadOptions } from './types.ts';

export interface UnitRequest<T> {
  /** e.g. "FC03 40+2", for errors and logs. */
  describe: string;
  op(client: ModbusClient): Promise<T>;
  /**
   * De-energising writes (a coil OFF: a fill valve closing) go ahead of every
   * queued poll and are tried even on a unit that is set aside: a close must
   * never wait behind a busy bus or a unit's bad record.
   */
  urgent?: boolean;
  /** A single-coil write (FC05): the bus drops queued writes to a coil an OFF supersedes (queue.ts). */
  coil?: { address: number; on: boolean };
  /** A write-multiple-coils (FC15): dropped whole by an OFF to any coil it would set ON (queue.ts). */
  coils?: { address: number; values: readonly boolean[] };
  /** Asked right before each attempt goes on the wire; false drops the request with SUPERSEDED. */
  stillWanted?: () => boolean;
  /** Told right before each attempt goes on the wire (after admission). */
  onSend?: () => void;
}

type Submit = <T>(unit: BusUnit, request: UnitRequest<T>) => Promise<T>;

export class BusUnit implements ModbusUnit {
  readonly health: Signal<DeviceHealth>;
  readonly timeoutMs: number;
  readonly retries: number;

  constructor(
    readonly unitId: number,
    readonly busUrl: string,
    private readonly tracker: UnitHealth,
    private readonly submit: Submit,
    opts: { timeoutMs: number; retries: number },
  ) {
    this.health = tracker.health;
    this.timeoutMs = opts.timeoutMs;
    this.retries = Math.max(0, opts.retries);
  }

  getHealth(): DeviceHealth {
    return this.tracker.snapshot();
  }

  readHoldingRegisters(address: number, count: number): Promise<number[]> {
    return this.read(3, address, count, 125, (c) => c.readHoldingRegisters(address, count).then((r) => r.data));
  }

  readInputRegisters(address: number, count: number): Promise<number[]> {
    return this.read(4, address, count, 125, (c) => c.readInputRegisters(address, count).then((r) => r.data));
  }

  readCoils(address: number, count: number, opts: ReadOptions = {}): Promise<boolean[]> {
    // Replies carry whole bytes; the padding bits are not coils.
    return this.read(1, address, count, 2000, (c) => c.readCoils(address, count).then((r) => r.data.slice(0, count)), opts.onSend);
  }

  readDiscreteInputs(address: number, count: number, opts: ReadOptions = {}): Promise<boolean[]> {
    return this.read(2, address, count, 2000, (c) => c.readDiscreteInputs(address, count).then((r) => r.data.slice(0, count)), opts.onSend);
  }

  writeCoil(address: number, value: boolean, opts: CoilWriteOptions = {}): Promise<void> {
    const bad = checkAddress(address, 1) ?? (typeof value === 'boolean' ? undefined : `coil value ${String(value)} is not a boolean`);
    return this.send(bad, {
      describe: `FC05 ${address}=${value}`,
      op: (c) => c.writeCoil(address, value).then(() => undefined),
      urgent: value === false,
      coil: { address, on: value },
      stillWanted: opts.stillWanted,
      onSend: opts.onSend,
    });
  }

  writeCoils(address: number, values: boolean[], opts: CoilWriteOptions = {}): Promise<void> {
    const bad = !Array.isArray(values)
      ? 'values must be an array'
      : (checkCount(values.length, 1968) ?? checkAddress(address, values.length) ?? (values.every((v) => typeof v === 'boolean') ? undefined : 'coil values must be booleans'));
    const copy = Array.isArray(values) ? [...values] : [];
    return this.send(bad, {
      describe: `FC15 ${address}+${copy.length}=${copy.map((v) => (v ? 1 : 0)).join('')}`,
      op: (c) => c.writeCoils(address, copy).then(() => undefined),
      // All OFF de-energises: as urgent as a single OFF (README rule 2).
      urgent: copy.length > 0 && copy.every((v) => !v),
      coils: { address, values: copy },
      stillWanted: opts.stillWanted,
      onSend: opts.onSend,
    });
  }

  writeRegister(address: number, value: number): Promise<void> {
    const bad = checkAddress(address, 1) ?? checkValues([value]);
    return this.send(bad, { describe: `FC06 ${address}=${value}`, op: (c) => c.writeRegister(address, value).then(() => undefined) });
  }

  writeRegisters(address: number, values: number[]): Promise<void> {
    const bad = !Array.isArray(values)
      ? 'values must be an array'
      : (checkCount(values.length, 123) ?? checkAddress(address, values.length) ?? checkValues(values));
    return this.send(bad, { describe: `FC16 ${address}+${values?.length}`, op: (c) => c.writeRegisters(address, values).then(() => undefined) });
  }

  private read<T>(fc: number, address: number, count: number, max: number, op: (c: ModbusClient) => Promise<T>, onSend?: () => void): Promise<T> {
    const bad = checkCount(count, max) ?? checkAddress(address, count);
    return this.send(bad, { describe: `FC0${fc} ${address}+${count}`, op, ...(onSend ? { onSend } : {}) });
  }

  private send<T>(bad: string | undefined, request: UnitRequest<T>): Promise<T> {
    if (bad !== undefined) {
      return Promise.reject(
        new FillgateError('BAD_PAYLOAD', `${request.describe} to unit ${this.unitId} on ${this.busUrl}: ${bad}`, { unitId: this.unitId, busUrl: this.busUrl }),
      );
    }
    return this.submit(this, request);
  }
}

function checkCount(count: number, max: number): string | undefined {
  return Number.isInteger(count) && count >= 1 && count <= max ? undefined : `count ${count} must be 1..${max}`;
}

function checkAddress(address: number, count: number): string | undefined {
  if (!Number.isInteger(address) || address < 0 || address > 0xffff) return `address ${address} must be 0..65535`;
  return address + count - 1 > 0xffff ? `address ${address}+${count} runs past 65535` : undefined;
}

function checkValues(values: number[]): string | undefined {
  const bad = values.find((v) => !Number.isInteger(v) || v < 0 || v > 0xffff);
  return bad === undefined ? undefined : `register value ${bad} must be an integer 0..65535 (encode signed values first)`;
}
