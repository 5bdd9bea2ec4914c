/**
 * Two Links joined in memory, for unit tests of drivers, simulators and the
 * gateway without a serial port or socket. Bytes written on one end arrive on
 * the other end's `data` asynchronously (as from the OS), in order, optionally
 * cut into small chunks to exercise framing. `drop()` cuts the wire the way a
 * pulled cable or a dead device server does: both ends go 'reconnecting' and
 * writes reject with LINK_CLOSED until `restore()`.
 */
import { FillgateError } from '../errors.ts';
import { Signal } from '../signal.ts';
import type { Link, LinkState } from './types.ts';

export interface MemoryLinkOptions {
  /** URLs the two ends report. Default memory://a and memory://b. */
  urls?: [string, string];
  /** Deliver writes in chunks of at most this many bytes (each a separate data event). Default: whole writes. */
  maxChunk?: number;
}

interface Wire {
  up: boolean;
  maxChunk?: number;
}

export class MemoryLink implements Link {
  readonly data = new Signal<Buffer>();
  readonly stateChange = new Signal<{ state: LinkState; error?: string }>();
  /** Every buffer written on this end, for assertions. */
  readonly written: Buffer[] = [];
  private current: LinkState = 'closed';
  private wanted = false;
  peer!: MemoryLink;

  constructor(readonly url: string, private readonly wire: Wire) {}

  get state(): LinkState {
    return this.current;
  }

  private setState(state: LinkState, error?: string): void {
    if (state === this.current) return;
    this.current = state;
    this.stateChange.emit(error === undefined ? { state } : { state, error });
  }

  async open(): Promise<void> {
    this.wanted = true;
    this.setState(this.wire.up ? 'open' : 'reconnecting', this.wire.up ? undefined : 'link is down');
  }

  async close(): Promise<void> {
    this.wanted = false;
    this.setState('closed');
  }

  write(bytes: Buffer): Promise<void> {
    if (this.current !== 'open') {
      return Promise.reject(new FillgateError('LINK_CLOSED', `${this.url} is ${this.current}`, { url: this.url }));
    }
    const copy = Buffer.from(bytes);
    this.written.push(copy);
    const step = this.wire.maxChunk ?? (copy.length || 1);
    for (let i = 0; i < copy.length; i += step) {
      const piece = copy.subarray(i, i + step);
      // Bytes in flight when the wire drops are lost, as on a real line.
      setImmediate(() => {
        if (this.wire.up && this.peer.current === 'open') this.peer.data.emit(piece);
      });
    }
    return Promise.resolve();
  }

  /** Make bytes arrive on this end as if the peer had sent them (no peer needed). */
  inject(bytes: Buffer | string): void {
    this.data.emit(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes));
  }

  /** Cut the wire: both opened ends go 'reconnecting' with the error. */
  drop(error = 'link dropped'): void {
    this.wire.up = false;
    for (const end of [this, this.peer]) if (end.wanted) end.setState('reconnecting', error);
  }

  /** Mend the wire: both ends that are still wanted open again. */
  restore(): void {
    this.wire.up = true;
    for (const end of [this, this.peer]) if (end.wanted) end.setState('open');
  }

  get isUp(): boolean {
    return this.wire.up;
  }
}

export function memoryLinkPair(opts: MemoryLinkOptions = {}): [MemoryLink, MemoryLink] {
  const wire: Wire = { up: true, maxChunk: opts.maxChunk };
  const [ua, ub] = opts.urls ?? ['memory://a', 'memory://b'];
  const a = new MemoryLink(ua, wire);
  const b = new MemoryLink(ub, wire);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
