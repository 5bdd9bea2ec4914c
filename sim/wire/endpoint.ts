/**
 * Where a simulated device meets the wire: a TCP server on 127.0.0.1 (like a
 * Modbus TCP device or a serial device server) or one end of a socat pty pair
 * (like an RS-232/RS-485 line; the gateway opens the other end).
 */
import type { Signal } from '../../protocols/signal.ts';

/** One connected peer: a TCP client, or the far side of a pty. */
export interface Conn {
  readonly id: number;
}

export interface Endpoint {
  readonly kind: 'tcp' | 'pty';
  /** The link URL a gateway opens: `tcp://127.0.0.1:15031` or `serial:///tmp/fillgate-sim/P1-scale?baud=9600`. */
  readonly url: string;
  readonly data: Signal<{ conn: Conn; bytes: Buffer }>;
  /** A peer connected (open) or went away; lets a server drop half-read frames. */
  readonly peers: Signal<{ conn: Conn; open: boolean }>;
  /** Time the bytes take on the line: bytes × 10 bits / baud on a pty (a pty ignores baud, engineering.md), 0 on TCP. */
  wireTimeMs(byteCount: number): number;
  /** Sends to one peer; on a pty the bytes arrive after their wire time, one transmission after the other. */
  send(conn: Conn, bytes: Buffer): void;
  /** Sends to every peer (a continuous-output scale, a reader). */
  broadcast(bytes: Buffer): void;
  peerCount(): number;
  /** True while a link-drop fault holds the link down. */
  readonly down: boolean;
  /** Link drop fault: close every connection (TCP) or remove the pty (unplugged cable) for `ms`, then come back. */
  drop(ms: number): void;
  close(): Promise<void>;
  /** Bytes not sent because the line was down or the peer did not read. */
  readonly bytesLost: number;
}

/**
 * Serialises transmissions on a line with a baud rate: each one ends its wire
 * time after the previous one ended. `schedule` returns the delay until the
 * given bytes have fully "arrived".
 */
export class LinePacer {
  private freeAt = 0;
  constructor(private readonly baud: number | undefined) {}

  wireTimeMs(byteCount: number): number {
    return this.baud ? (byteCount * 10 * 1000) / this.baud : 0;
  }

  schedule(byteCount: number, now = performance.now()): number {
    const wire = this.wireTimeMs(byteCount);
    if (wire === 0) return 0;
    this.freeAt = Math.max(now, this.freeAt) + wire;
    return this.freeAt - now;
  }

  reset(): void {
    this.freeAt = 0;
  }
}
