/**
 * How busy one bus is (issue 14 point 3): the share of wall time with at least
 * one request on the wire, requests per second and the p99 of the time a
 * request waited in the queue before it went out. Totals only grow (for
 * /metrics counters); the rates are over the last 10-20 s (for doctor and the
 * gauges). Bounded: a ring of the last 1,024 queue waits, nothing else kept.
 */
const WAIT_RING = 1024;
const WINDOW_MS = 10_000;

export interface BusLoad {
  /** Busy time / wall time over the last 10-20 s (0..1). */
  utilisation: number;
  /** Attempts put on the wire per second over the same window. */
  requestsPerSec: number;
  /** 99th percentile of queue wait (ms) over the last 1,024 attempts. */
  queueWaitP99Ms: number;
  /** Since the bus was built: wire-busy seconds and attempts. */
  busySecondsTotal: number;
  requestsTotal: number;
  /** Most requests on the wire at once so far (1 unless maxInFlight > 1). */
  inFlightMax: number;
  /** Requests waiting in the queue now. */
  queued: number;
}

export class BusStats {
  private busyMs = 0;
  private busySince: number | undefined;
  private requests = 0;
  private inFlight = 0;
  private inFlightMax = 0;
  private readonly waits = new Float64Array(WAIT_RING);
  private waitCount = 0;
  /** Totals at the start of the current and the previous window. */
  private mark = { at: performance.now(), busyMs: 0, requests: 0 };
  private prevMark = this.mark;

  /** An attempt goes on the wire after waiting `waitMs` in the queue. */
  started(waitMs: number): void {
    this.requests++;
    this.waits[this.waitCount++ % WAIT_RING] = waitMs;
    if (this.inFlight++ === 0) this.busySince = performance.now();
    if (this.inFlight > this.inFlightMax) this.inFlightMax = this.inFlight;
  }

  /** An attempt ended (answer, failure or dropped at the socket). */
  ended(): void {
    if (this.inFlight === 0) return;
    if (--this.inFlight === 0 && this.busySince !== undefined) {
      this.busyMs += performance.now() - this.busySince;
      this.busySince = undefined;
    }
  }

  snapshot(queued: number): BusLoad {
    const now = performance.now();
    const busyNow = this.busyMs + (this.busySince !== undefined ? now - this.busySince : 0);
    if (now - this.mark.at >= WINDOW_MS) {
      this.prevMark = this.mark;
      this.mark = { at: now, busyMs: busyNow, requests: this.requests };
    }
    const from = this.prevMark;
    const spanMs = Math.max(1, now - from.at);
    const n = Math.min(this.waitCount, WAIT_RING);
    const sorted = Array.from(this.waits.subarray(0, n)).sort((a, b) => a - b);
    const p99 = n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil(n * 0.99) - 1)]!;
    return {
      utilisation: Math.min(1, (busyNow - from.busyMs) / spanMs),
      requestsPerSec: ((this.requests - from.requests) * 1000) / spanMs,
      queueWaitP99Ms: Math.round(p99 * 10) / 10,
      busySecondsTotal: busyNow / 1000,
      requestsTotal: this.requests,
      inFlightMax: this.inFlightMax,
      queued,
    };
  }
}
