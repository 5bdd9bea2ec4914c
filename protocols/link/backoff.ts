/**
 * Reconnect delays: exponential with jitter, capped. Jitter spreads the retries
 * of many gateways (or many links in one gateway) after a shared outage, so a
 * rebooted device server is not hit by all of them in the same millisecond.
 */
export interface BackoffOptions {
  /** First delay (ms); default 100. */
  initialMs?: number;
  /** Cap (ms); default 5000. */
  maxMs?: number;
  /** Growth per failed attempt; default 2. */
  factor?: number;
  /** Fraction of the delay that is random, 0..1; default 0.2 (delay × [0.8, 1.0]). */
  jitter?: number;
  /** Injected for tests; default Math.random. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = Math.max(1, opts.initialMs ?? 100);
    this.maxMs = Math.max(this.initialMs, opts.maxMs ?? 5000);
    this.factor = Math.max(1, opts.factor ?? 2);
    this.jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.2));
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next attempt; each call grows the following one. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    if (base < this.maxMs) this.attempt++;
    return Math.round(base * (1 - this.jitter * this.random()));
  }

  /** After a connection that held: start again from the first delay. */
  reset(): void {
    this.attempt = 0;
  }
}
