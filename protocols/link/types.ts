import type { Signal } from '../signal.ts';

/**
 * A byte stream to a device: a serial port, a TCP socket to a device server,
 * one side of a pty pair. Protocol code talks to this, never to serialport or net.
 */
export type LinkState = 'closed' | 'opening' | 'open' | 'reconnecting';

export interface Link {
  readonly url: string;
  readonly state: LinkState;
  /** Bytes as they arrive, split wherever the OS split them. */
  readonly data: Signal<Buffer>;
  /** State changes, with the error that caused a drop if any. */
  readonly stateChange: Signal<{ state: LinkState; error?: string }>;
  /** Opens and keeps open: a dropped link is reopened with backoff until close(). */
  open(): Promise<void>;
  close(): Promise<void>;
  /** Rejects with FillgateError LINK_CLOSED / LINK_WRITE_FAILED; never throws synchronously. */
  write(bytes: Buffer): Promise<void>;
}

export type SerialParity = 'none' | 'even' | 'odd';

export type LinkAddress =
  | { kind: 'serial'; path: string; baudRate: number; parity: SerialParity; dataBits: 7 | 8; stopBits: 1 | 2 }
  | { kind: 'tcp'; host: string; port: number };
