/**
 * The part every link shares: open, keep open, reopen after a drop with
 * backoff until close(). A USB adapter unplugged or a device server rebooted
 * must be survived in-process, not by exiting (Zigbee2MQTT #17809, domain.md
 * section 7). Subclasses only say how to make one connection.
 *
 * open() rejects with LINK_OPEN_FAILED when the first attempt fails, but the
 * link keeps trying in the background (state 'reconnecting') until close():
 * a gateway that starts while a scale is switched off must pick it up later.
 */
import { FillgateError, errorMessage } from '../errors.ts';
import { Signal } from '../signal.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import type { Link, LinkState } from './types.ts';

/** One live connection made by a subclass. */
export interface Connection {
  write(bytes: Buffer): Promise<void>;
  /** Tear down without emitting a drop. */
  destroy(): Promise<void>;
}

/** Callbacks a subclass wires to the OS object it creates. */
export interface ConnectionEvents {
  data(bytes: Buffer): void;
  /** The connection is gone (closed by peer, unplugged, errored). Safe to call more than once. */
  dropped(reason: string): void;
}

export interface ReconnectOptions {
  backoff?: BackoffOptions;
  /** A connection that stayed up this long resets the backoff (ms); default 1000. */
  stableMs?: number;
}

export abstract class ReconnectingLink implements Link {
  readonly data = new Signal<Buffer>();
  readonly stateChange = new Signal<{ state: LinkState; error?: string }>();
  /** Drops seen since construction, for health reports. */
  drops = 0;
  private current: LinkState = 'closed';
  private conn: Connection | undefined;
  private generation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private openedAt = 0;
  private readonly backoff: Backoff;
  private readonly stableMs: number;

  constructor(
    readonly url: string,
    opts: ReconnectOptions = {},
  ) {
    this.backoff = new Backoff(opts.backoff);
    this.stableMs = opts.stableMs ?? 1000;
  }

  get state(): LinkState {
    return this.current;
  }

  /** Makes one connection; must reject (not throw) on failure. */
  protected abstract connect(events: ConnectionEvents): Promise<Connection>;

  async open(): Promise<void> {
    if (this.current !== 'closed') {
      if (this.current === 'open') return;
      throw new FillgateError('LINK_OPEN_FAILED', `${this.url} is ${this.current}`, { url: this.url });
    }
    this.setState('opening');
    const error = await this.attempt();
    if (error !== undefined) {
      throw new FillgateError('LINK_OPEN_FAILED', `cannot open ${this.url}: ${error}`, { url: this.url }, { cause: error });
    }
  }

  async close(): Promise<void> {
    this.generation++;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    if (this.current !== 'closed') this.setState('closed');
    if (conn) await conn.destroy().catch(() => undefined);
  }

  write(bytes: Buffer): Promise<void> {
    const conn = this.conn;
    if (this.current !== 'open' || !conn) {
      return Promise.reject(new FillgateError('LINK_CLOSED', `${this.url} is ${this.current}`, { url: this.url, state: this.current }));
    }
    try {
      return conn.write(bytes).catch((err: unknown) => {
        throw new FillgateError('LINK_WRITE_FAILED', `write to ${this.url} failed: ${errorMessage(err)}`, { url: this.url }, { cause: err });
      });
    } catch (err) {
      return Promise.reject(new FillgateError('LINK_WRITE_FAILED', `write to ${this.url} failed: ${errorMessage(err)}`, { url: this.url }, { cause: err }));
    }
  }

  /** One connection attempt; returns the error text on failure and schedules the next try. */
  private async attempt(): Promise<string | undefined> {
    const gen = ++this.generation;
    const events: ConnectionEvents = {
      data: (bytes) => {
        if (gen === this.generation) this.data.emit(bytes);
      },
      dropped: (reason) => {
        if (gen === this.generation) this.onDrop(reason);
      },
    };
    let conn: Connection;
    try {
      conn = await this.connect(events);
    } catch (err) {
      if (gen !== this.generation) return errorMessage(err);
      this.scheduleRetry(errorMessage(err));
      return errorMessage(err);
    }
    if (gen !== this.generation) {
      // close() (or a newer attempt) happened while connecting: this connection is unwanted.
      await conn.destroy().catch(() => undefined);
      return `${this.url} was closed while opening`;
    }
    this.conn = conn;
    this.openedAt = performance.now();
    this.setState('open');
    return undefined;
  }

  private onDrop(reason: string): void {
    const conn = this.conn;
    this.conn = undefined;
    this.generation++;
    this.drops++;
    if (conn) void conn.destroy().catch(() => undefined);
    if (performance.now() - this.openedAt >= this.stableMs) this.backoff.reset();
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    if (this.current === 'closed') return;
    this.setState('reconnecting', reason);
    clearTimeout(this.retryTimer);
    const gen = this.generation;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (gen !== this.generation || this.current === 'closed') return;
      void this.attempt();
    }, this.backoff.next());
  }

  private setState(state: LinkState, error?: string): void {
    // Only real changes are emitted: a device that stays away does not flood listeners.
    if (state === this.current) return;
    this.current = state;
    this.stateChange.emit(error === undefined ? { state } : { state, error });
  }
}
