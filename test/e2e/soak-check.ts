/**
 * The valve invariant, checked on the wire (issue 9 point 6). Pure: given the
 * gateway's valve decisions, the coil writes the gateway sent (its frame tap)
 * and the coil writes that reached the relay module (the simulator's wire
 * log), all on one monotonic clock (performance.now() of one process):
 *
 * - a coil is written ON only between the open of an attempt and the first
 *   close of that attempt (an ON the gateway had already sent when the close
 *   was decided may still arrive: one request is on the wire at a time, so at
 *   most one, and before the close's OFF);
 * - after a close is decided, no ON reaches the wire until a new attempt opens;
 * - a close decided while the coil is ON on the wire is followed by an OFF
 *   within `boundMs` (latency: decision → OFF request at the module), plus
 *   `perRequestMs` for each other coil's OFF in the run of OFFs right before
 *   it (closes decided together queue behind one another, one request each;
 *   OFFs are urgent and first-come first-served among themselves, so those
 *   were queued ahead of it); a close
 *   that could not reach the wire because the link was down, or because the
 *   gateway was killed, is excused from the bound but still needs its OFF
 *   before the coil may be ON again.
 *
 * In `wireOnly` spans (a gateway in a child process, whose decisions are not
 * seen) attempts come from the wire: an ON opens one, its first OFF closes it.
 * There the checks are that a (re)started gateway's first write to a coil is
 * OFF, and that no ON follows the OFF that ended an attempt within
 * `reopenMinMs` (keep-alive OFFs while closed do not count; no real attempt
 * opens that soon after a close: the cut-off alone waits 400 ms for the gas
 * in flight, a trip waits for a supervisor).
 */

export interface Decision {
  post: string;
  t: number;
  kind: 'open' | 'close';
  /** The controller's reason, 'gateway stop' or 'gateway killed'. */
  reason?: string;
  /** A killed gateway writes nothing: excused from the bound. */
  killed?: boolean;
}

/** One coil write: sent by the gateway (tx) or received by the module (rx). */
export interface CoilWriteAt {
  coil: number;
  on: boolean;
  t: number;
}

export interface CheckInput {
  /** post → coil on the relay module. */
  coils: Record<string, number>;
  decisions: Decision[];
  tx: CoilWriteAt[];
  rx: CoilWriteAt[];
  /** Time spans in which the gateway's link to the relay module was not open. */
  linkDown: { from: number; to: number }[];
  wireOnly?: { from: number; to: number }[];
  boundMs: number;
  /** Every request that reached the bus, in order (for what a close waited behind); optional. */
  requests?: BusRequest[];
  /** What one request may take: the bus timeout + wire time (default 0: no allowance). */
  perRequestMs?: number;
  /** Default 250 ms. */
  reopenMinMs?: number;
}

/** A request on the shared bus: an OFF write (to which coil of the relay module) or anything else. */
export interface BusRequest {
  t: number;
  offCoil?: number;
}

export interface CheckResult {
  /** Invariant violations (goal 0), with what happened. */
  violations: string[];
  /** Decision → OFF on the wire (ms), closes decided while the coil was ON and not excused. */
  latencies: number[];
  /** Latencies over the bound (also in `latencies`), and the first few of them described. */
  overBound: number;
  slow: string[];
  /** How long the longest stray ON (a violation) stayed on the wire before an OFF (ms). */
  strayMaxMs: number;
  /** The most requests other than OFF writes that reached the bus between a close decision and its OFF. */
  maxWaitedBehind: number;
  /** The latencies of closes with at most one request of any kind between decision and OFF (what a fixed bus gives). */
  latenciesOneAhead: number[];
  /** Closes whose OFF waited for a link to come back or a killed gateway's successor. */
  excused: number;
  excusedMaxMs: number;
  /** Attempts opened (open decisions) and attempts whose ON reached the wire. */
  opens: number;
  attemptsOnWire: number;
}

type Ev = { t: number; order: number } & ({ k: 'decision'; d: Decision } | { k: 'rx'; on: boolean } | { k: 'tx'; on: boolean });

export function checkInvariant(input: CheckInput): CheckResult {
  const out: CheckResult = { violations: [], latencies: [], overBound: 0, slow: [], strayMaxMs: 0, maxWaitedBehind: 0, latenciesOneAhead: [], excused: 0, excusedMaxMs: 0, opens: 0, attemptsOnWire: 0 };
  for (const [post, coil] of Object.entries(input.coils)) checkCoil(post, coil, input, out);
  return out;
}

function checkCoil(post: string, coil: number, input: CheckInput, out: CheckResult): void {
  const evs: Ev[] = [];
  // At equal times: the decision first (a write logged in the same millisecond is judged against it), then sends, then arrivals.
  for (const d of input.decisions) if (d.post === post) evs.push({ t: d.t, order: 0, k: 'decision', d });
  for (const w of input.tx) if (w.coil === coil) evs.push({ t: w.t, order: 1, k: 'tx', on: w.on });
  for (const w of input.rx) if (w.coil === coil) evs.push({ t: w.t, order: 2, k: 'rx', on: w.on });
  evs.sort((a, b) => a.t - b.t || a.order - b.order);

  const v = (t: number, msg: string) => out.violations.push(`${post} (coil ${coil}) t=${t.toFixed(1)}: ${msg}`);
  let open = false; // the last decision was an open
  let closedAt: number | undefined; // the first close of the current (closed) attempt
  let wireOn = false; // the last write that reached the module
  let lastTxOn: number | undefined; // when the gateway last sent ON
  let lastRxOnAt = -Infinity;
  let inFlightOn = false; // an ON sent before the close and not yet arrived at the close
  let offSinceClose = false;
  let onArrivalsSinceClose = 0;
  let attemptOnWire = false;
  let pending: { t: number; excused: boolean; reason?: string; stray?: boolean; carried?: boolean } | undefined;

  const downDuring = (from: number, to: number) => input.linkDown.some((w) => w.from <= to && w.to >= from);
  const spans = input.wireOnly ?? [];
  const spanOf = (t: number) => spans.findIndex((w) => w.from <= t && t <= w.to);
  const reopenMinMs = input.reopenMinMs ?? 250;
  let lastCloseOffAt = -Infinity; // the OFF that ended the last attempt on the wire
  let seenInSpan = -1; // the span whose first write was checked

  for (const e of evs) {
    if (e.k === 'tx') {
      if (e.on) lastTxOn = e.t;
      continue;
    }
    if (e.k === 'decision') {
      const d = e.d;
      if (d.kind === 'open') {
        // A close still waiting for its OFF (a link coming back) carries over: the new attempt's ON must not come first.
        if (pending) pending.carried = true;
        open = true;
        closedAt = undefined;
        attemptOnWire = false;
        out.opens++;
        continue;
      }
      // A close: the first one of an attempt (or after a restart) starts the clock if the coil is or may be ON.
      if (closedAt === undefined) {
        closedAt = e.t;
        offSinceClose = false;
        onArrivalsSinceClose = 0;
        inFlightOn = lastTxOn !== undefined && lastTxOn > lastRxOnAt;
      }
      open = false;
      if (d.killed && pending) pending.excused = true;
      if (!pending && (wireOn || inFlightOn)) pending = { t: e.t, excused: !!d.killed, reason: d.reason };
      continue;
    }
    // A write that reached the module.
    const span = spanOf(e.t);
    if (span !== -1 && span !== seenInSpan) {
      seenInSpan = span;
      if (e.on) v(e.t, 'a started gateway wrote ON before it had written OFF (wire-only span)');
    }
    if (span !== -1 && e.on && !open) {
      // Wire-only: an ON opens an attempt, unless it comes right after a close.
      if (e.t - lastCloseOffAt < reopenMinMs) v(e.t, `ON ${(e.t - lastCloseOffAt).toFixed(1)} ms after the OFF that ended an attempt (wire-only span)`);
      open = true;
      closedAt = undefined;
      pending = undefined;
      attemptOnWire = false;
      out.opens++;
    }
    if (span !== -1 && !e.on && open) {
      open = false;
      closedAt = e.t;
      offSinceClose = true;
    }
    if (e.on) {
      lastRxOnAt = e.t;
      if (open && pending?.carried) {
        v(e.t, `a new attempt's ON reached the module before the OFF of the close decided at t=${pending.t.toFixed(1)} (${pending.reason}): the close never reached the wire`);
        pending = undefined;
      }
      if (open) {
        if (!attemptOnWire) out.attemptsOnWire++;
        attemptOnWire = true;
        wireOn = true;
        continue;
      }
      onArrivalsSinceClose++;
      const inFlight = closedAt !== undefined && inFlightOn && onArrivalsSinceClose === 1 && !offSinceClose;
      if (inFlight) {
        wireOn = true;
        inFlightOn = false;
        continue;
      }
      v(e.t, closedAt === undefined ? 'ON reached the module with no attempt open' : `ON reached the module ${(e.t - closedAt).toFixed(1)} ms after the close was decided${offSinceClose ? ' (after its OFF)' : ''}`);
      wireOn = true;
      // The coil must be switched off again; time that as a close decided now, so a stuck ON is also caught.
      pending ??= { t: e.t, excused: false, reason: 'stray ON', stray: true };
      continue;
    }
    if (wireOn) lastCloseOffAt = e.t;
    wireOn = false;
    if (closedAt !== undefined) offSinceClose = true;
    // An ON still counted as in flight did not arrive before this OFF: it was lost with a link.
    inFlightOn = false;
    if (pending) {
      const ms = e.t - pending.t;
      if (pending.stray) out.strayMaxMs = Math.max(out.strayMaxMs, ms);
      else if (pending.excused || downDuring(pending.t, e.t)) {
        out.excused++;
        out.excusedMaxMs = Math.max(out.excusedMaxMs, ms);
      } else {
        out.latencies.push(ms);
        const { otherOffs, allOtherOffs, others } = between(input.requests ?? [], pending.t, e.t, coil);
        out.maxWaitedBehind = Math.max(out.maxWaitedBehind, others);
        if (others + allOtherOffs <= 1) out.latenciesOneAhead.push(ms);
        const bound = input.boundMs + otherOffs * (input.perRequestMs ?? 0);
        if (ms > bound) {
          out.overBound++;
          if (out.slow.length < 20) {
            out.slow.push(`${post} t=${e.t.toFixed(1)}: OFF ${ms.toFixed(1)} ms after the close (${pending.reason}) was decided, behind ${others} other requests and ${otherOffs} other OFFs; bound ${bound} ms`);
          }
        }
      }
      pending = undefined;
    }
  }
  if (pending) v(pending.t, `close (${pending.reason}) decided while the coil was ON, and no OFF reached the module by the end`);
  else if (wireOn && !open) v(evs.at(-1)?.t ?? 0, 'the coil was left ON with no attempt open');
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Requests that reached the bus in (from, to): other coils' OFF writes in the run right before `to`, and all requests that are not OFF writes. */
function between(reqs: BusRequest[], from: number, to: number, coil: number): { otherOffs: number; allOtherOffs: number; others: number } {
  let lo = 0;
  let hi = reqs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (reqs[mid]!.t <= from) lo = mid + 1;
    else hi = mid;
  }
  let otherOffs = 0;
  let allOtherOffs = 0;
  let others = 0;
  for (let i = lo; i < reqs.length && reqs[i]!.t < to; i++) {
    const r = reqs[i]!;
    if (r.offCoil === undefined) {
      others++;
      otherOffs = 0;
    } else if (r.offCoil !== coil) {
      otherOffs++;
      allOtherOffs++;
    }
  }
  return { otherOffs, allOtherOffs, others };
}
