/**
 * What the outside-in bench measures, from the simulator's wire log (GET
 * /wire-log, sim/wire/wire-log.ts) and its state: the coil writes that reached
 * the relay module and the scale replies (the samples the controller got), in
 * the simulator's own clock. Repeated writes of the same state (keep-alives)
 * fold into one, as in test/fixtures/wire-log.ts coilSequence.
 */
import { fetchWireLog, type WireEntry } from '../fixtures/wire-log.ts';

export interface CoilEdge {
  t: number;
  at: number;
  on: boolean;
}

/** Pulls the relay module's requests and every FC03 reply out of a simulator in another process, as they come. */
export class WireCollector {
  /** Coil writes per coil address, in wire order (all writes, not folded). */
  readonly coils = new Map<number, CoilEdge[]>();
  /** Times (simulator ms) of every request to the relay module (coil writes, input reads, keep-alives). */
  readonly relayRequests: number[] = [];
  /** Reply times (simulator ms) per scale unit. */
  readonly replies = new Map<number, number[]>();
  /** `at` (epoch ms) of the first FC03 reply: the first scale read any controller got. */
  firstReadAt: number | undefined;
  /** `at` − `t` of the simulator process (its performance.timeOrigin): turns epoch ms into its clock. */
  origin = 0;
  dropped = 0;
  private since = { relay: 0, scale: 0 };
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly url: string,
    private readonly relayUnit: number,
  ) {}

  start(everyMs = 500): void {
    this.timer = setInterval(() => (this.busy = this.busy.then(() => this.pull()).catch(() => undefined)), everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    await this.pull();
  }

  async pull(): Promise<void> {
    for (;;) {
      const r = await fetchWireLog(this.url, { kind: 'request', unit: this.relayUnit, since: this.since.relay, limit: 20_000 });
      this.dropped = r.dropped;
      for (const e of r.entries) this.onRelay(e);
      if (r.entries.length) this.since.relay = r.entries.at(-1)!.seq;
      if (r.entries.length < 20_000) break;
    }
    for (;;) {
      const r = await fetchWireLog(this.url, { kind: 'reply', fc: 3, since: this.since.scale, limit: 20_000 });
      for (const e of r.entries) {
        this.firstReadAt ??= e.at;
        this.origin = e.at - e.t;
        let list = this.replies.get(e.unitId!);
        if (!list) this.replies.set(e.unitId!, (list = []));
        list.push(e.t);
      }
      if (r.entries.length) this.since.scale = r.entries.at(-1)!.seq;
      if (r.entries.length < 20_000) break;
    }
  }

  private onRelay(e: WireEntry): void {
    this.relayRequests.push(e.t);
    const push = (coil: number, on: boolean) => {
      let list = this.coils.get(coil);
      if (!list) this.coils.set(coil, (list = []));
      list.push({ t: e.t, at: e.at, on });
    };
    if (e.fc === 5) push(e.address!, e.value === true);
    else if (e.fc === 15) e.values!.forEach((v, i) => push(e.address! + i, v === true));
  }

  /** Scale replies (all units) between two epoch times. */
  repliesBetween(fromAt: number, toAt: number): number {
    let n = 0;
    for (const list of this.replies.values()) n += this.count(list, fromAt, toAt);
    return n;
  }

  /** Requests to the relay module between two epoch times. */
  relayRequestsBetween(fromAt: number, toAt: number): number {
    return this.count(this.relayRequests, fromAt, toAt);
  }

  private count(list: number[], fromAt: number, toAt: number): number {
    let n = 0;
    for (const t of list) if (t + this.origin >= fromAt && t + this.origin <= toAt) n++;
    return n;
  }

  /** The last scale reply for `unit` at or before simulator time t. */
  lastReplyBefore(unit: number, t: number): number | undefined {
    const list = this.replies.get(unit);
    if (!list?.length) return undefined;
    let lo = 0;
    let hi = list.length - 1;
    if (list[0]! > t) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (list[mid]! <= t) lo = mid;
      else hi = mid - 1;
    }
    return list[lo];
  }
}

export interface FillValve {
  /** OFF→ON and ON→OFF changes on the wire within the fill. */
  opens: number;
  closes: number;
  /** First close: the coil-OFF minus the last scale sample the controller had before it (ms). */
  closeLatencyMs?: number;
  /** ON writes that came within 1 s of a close of the same fill. */
  reopensWithin1s: number;
  /** Epoch ms of the first close on the wire. */
  firstCloseAt?: number;
  /**
   * For a fill that faulted after its valve opened: the coil-OFF on the wire minus the moment the
   * operator saw the fault on /status (ms). Positive: the coil was still ON when the fault showed (the
   * first OFF after it; Infinity if none came); zero or negative: it was already OFF (the last close before it).
   */
  offAfterFaultMs?: number;
}

/** The coil's changes between two epoch times (a fill from its placement to its removal). */
export function fillValve(w: WireCollector, coil: number, scaleUnit: number, fromAt: number, toAt: number, faultAt?: number): FillValve {
  const writes = (w.coils.get(coil) ?? []).filter((x) => x.at >= fromAt && x.at <= toAt);
  let on = false;
  let opens = 0;
  let closes = 0;
  let lastOff: number | undefined;
  let reopensWithin1s = 0;
  let closeLatencyMs: number | undefined;
  let firstCloseAt: number | undefined;
  for (const x of writes) {
    if (x.on === on) continue;
    on = x.on;
    if (on) {
      opens++;
      if (lastOff !== undefined && x.t - lastOff <= 1000) reopensWithin1s++;
    } else {
      closes++;
      lastOff = x.t;
      if (closes === 1) {
        firstCloseAt = x.at;
        const sample = w.lastReplyBefore(scaleUnit, x.t);
        if (sample !== undefined) closeLatencyMs = x.t - sample;
      }
    }
  }
  const v: FillValve = { opens, closes, closeLatencyMs, reopensWithin1s, firstCloseAt };
  if (faultAt !== undefined) {
    const d = offAfterFault(writes, faultAt);
    if (d !== undefined) v.offAfterFaultMs = d;
  }
  return v;
}

/** See FillValve.offAfterFaultMs; undefined when the coil never went ON before the fault. */
function offAfterFault(writes: CoilEdge[], faultAt: number): number | undefined {
  let on = false;
  let opened = false;
  let lastClose: number | undefined;
  for (const x of writes) {
    if (x.at > faultAt) break;
    if (x.on === on) continue;
    on = x.on;
    if (on) opened = true;
    else lastClose = x.at;
  }
  if (!opened) return undefined;
  if (!on) return lastClose! - faultAt;
  const off = writes.find((x) => x.at > faultAt && !x.on);
  return off ? off.at - faultAt : Infinity;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den ? num / den : NaN;
}

/** Counters of one metric family from a Prometheus text exposition, by the value of one label. */
export function metricByLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const l = new RegExp(`${label}="([^"]*)"`).exec(m[1]!)?.[1] ?? '';
    out[l] = (out[l] ?? 0) + Number(m[2]);
  }
  return out;
}
