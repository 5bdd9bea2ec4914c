import type { Signal } from '../protocols/signal.ts';
import type { DeviceHealth } from '../protocols/modbus/types.ts';
export type { DeviceHealth, HealthState } from '../protocols/modbus/types.ts';

/** The one sample every scale driver emits, whatever its wire protocol. */
export interface WeightSample {
  /** Configured device id, e.g. "post1.scale". */
  device: string;
  /** Gross mass on the platform, kg. */
  grossKg: number;
  /** Indicator reports no motion. */
  stable: boolean;
  /** Indicator reports overload / out of range: never trust grossKg then. */
  overload: boolean;
  /** Monotonic ms (Clock.now()) at which the sample arrived at the gateway. */
  at: number;
  /** Indicator reports centre of zero, when the protocol says so. */
  zero?: boolean;
}

export type CodeKind = 'cylinder' | 'badge';

/** One code read by an ID reader, normalised. */
export interface CodeRead {
  device: string;
  /** What the reader sent, prefix/suffix stripped. */
  raw: string;
  /** The normalised code (cylinder code or badge code). */
  code: string;
  kind: CodeKind;
  at: number;
}

export interface Driver {
  readonly id: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly health: Signal<DeviceHealth>;
  getHealth(): DeviceHealth;
}

export interface ScaleDriver extends Driver {
  readonly samples: Signal<WeightSample>;
  /** Present only where the device's map or protocol defines the command. */
  zero?(): Promise<void>;
  tare?(): Promise<void>;
  /**
   * Present only where the map documents a setpoint register: programs the indicator's own limit
   * at this gross (kg), reads it back and resolves with the programmed kg; rejects on a mismatch.
   */
  programLimit?(grossKg: number): Promise<number>;
  /**
   * Present where the driver polls: 'fast' polls at the configured rate, 'idle' at the idle rate
   * (issue 14 point 3). The station asks 'fast' as soon as a cylinder is placed or scanned; a
   * switch to fast polls at once rather than at the next slow due time.
   */
  setPace?(pace: 'fast' | 'idle'): void;
}

export interface ReaderDriver extends Driver {
  readonly reads: Signal<CodeRead>;
}

export type ValveState = 'closed' | 'opening' | 'open' | 'closing' | 'fault';

export interface ValveDriver extends Driver {
  /** Energise the coil. Rejects (and the driver closes) if not confirmed in time. */
  open(): Promise<void>;
  /** De-energise the coil. Safe to call any time, any number of times. */
  close(reason: string): Promise<void>;
  /**
   * Resolves once an OFF decided at or after `sinceMs` (performance.now()) has been put on the wire,
   * or after `maxWaitMs`, whichever is first. The runtime holds a closing step's disk writes until then,
   * so a commit never delays the close (issue 14). Drivers without a wire may resolve at once.
   */
  whenCloseSent?(sinceMs: number, maxWaitMs: number): Promise<void>;
  readonly state: ValveState;
  readonly stateChange: Signal<{ state: ValveState; reason?: string }>;
  /**
   * Each confirmed close as seen on the wire (performance.now() ms): when its OFF went on the socket,
   * and when the feedback input turned closed (absent without feedback): midway between the last
   * read that showed open and the first that showed closed. The controller learns
   * the valve's closing lag from it (issue 14 point 2).
   */
  readonly closeTimings?: Signal<{ sentAt: number; closedAt?: number }>;
  /** Each open likewise: once when its ON goes on the socket, and once confirmed, with when the feedback input showed open. */
  readonly openTimings?: Signal<{ sentAt: number; openedAt?: number }>;
  /** A fault: command not confirmed, feedback mismatch, write failure. */
  readonly faults: Signal<{ code: string; message: string; at: number }>;
}

/** A digital input such as a post's start or stop button on the I/O module. */
export interface InputDriver extends Driver {
  readonly edges: Signal<{ device: string; value: boolean; at: number }>;
}
