import type { Signal } from '../signal.ts';

/**
 * How a driver sees one Modbus unit (slave) on a bus. The bus arbiter behind it
 * serialises requests, applies the inter-request gap, timeouts and retries, and
 * sets aside a unit that keeps failing. Addresses are wire addresses (0-based).
 */
export interface ModbusUnit {
  readonly unitId: number;
  readonly busUrl: string;
  readHoldingRegisters(address: number, count: number): Promise<number[]>;
  readInputRegisters(address: number, count: number): Promise<number[]>;
  readCoils(address: number, count: number, opts?: ReadOptions): Promise<boolean[]>;
  readDiscreteInputs(address: number, count: number, opts?: ReadOptions): Promise<boolean[]>;
  /**
   * FC05. An OFF is urgent: it goes ahead of queued polls and supersedes queued
   * writes to the same coil (which reject with SUPERSEDED). See README.md.
   */
  writeCoil(address: number, value: boolean, opts?: CoilWriteOptions): Promise<void>;
  /**
   * FC15, e.g. one keep-alive for every valve of a relay module. Dropped whole
   * (SUPERSEDED) by an OFF to any coil it would set ON; all OFF is urgent.
   */
  writeCoils(address: number, values: boolean[], opts?: CoilWriteOptions): Promise<void>;
  writeRegister(address: number, value: number): Promise<void>;
  writeRegisters(address: number, values: number[]): Promise<void>;
  readonly health: Signal<DeviceHealth>;
  getHealth(): DeviceHealth;
}

export interface ReadOptions {
  /** Told right before each attempt goes on the wire (a batched read stops taking joiners then). */
  onSend?: () => void;
}

export interface CoilWriteOptions {
  /**
   * Asked right before the frame is put on the wire (every attempt, also a
   * retry); false drops the write unsent, rejecting with SUPERSEDED. A valve
   * driver passes "this open is still current", so an ON decided before a
   * close can never reach the module after that close.
   */
  stillWanted?: () => boolean;
  /**
   * Told right before the frame is put on the wire (every attempt), in the same
   * synchronous run as the send. A valve driver notes when its OFF went out, so
   * the runtime can hold disk writes until the close is on the socket.
   */
  onSend?: () => void;
}

export interface UnitOptions {
  /** Per-request timeout (ms). */
  timeoutMs?: number;
  /** Retries after the first attempt. */
  retries?: number;
  /** Name used in health reports; defaults to `${busUrl}#${unitId}`. */
  name?: string;
}

export type HealthState = 'online' | 'degraded' | 'offline';

export interface DeviceHealth {
  device: string;
  state: HealthState;
  lastError?: string;
  /** Monotonic ms of the last good exchange. */
  lastOkAt?: number;
  framesDiscarded: number;
  requests: number;
  failures: number;
  /** Monotonic ms until which the arbiter skips this unit (set aside). */
  setAsideUntil?: number;
  /** Round-trip time of the last good exchange (ms). */
  rttMs?: number;
}
