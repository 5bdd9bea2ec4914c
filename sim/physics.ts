/**
 * Pure physics of the simulated station: a cylinder filling on a scale and the
 * indicator that weighs it. No I/O, no timers: every method takes the time, and
 * randomness comes from a seeded PRNG, so the benchmark and the tests replay
 * exactly.
 *
 * Figures from domain.md section 4: flow 10-30 kg/min, fill-valve closing time
 * 50-200 ms. The mass that still flows between the close command and the valve
 * really closing is the "in-flight" mass (preact) the controller must learn.
 */

/** Mulberry32: a small, fast, seeded PRNG (public domain, Tommy Ettinger). Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CylinderOptions {
  tareKg: number;
  residualKg: number;
  flowKgPerMin: number;
  /** Time from an open command until gas flows (solenoid pull-in, line pressure). */
  openDelayMs: number;
  /** Time from a close command until flow stops: the mass in flight. */
  closeDelayMs: number;
}

/** One span of flow: from start until end (Infinity while the valve stays open). */
interface FlowSpan {
  start: number;
  end: number;
}

/**
 * A cylinder on a filling scale with its fill valve. Times are monotonic ms;
 * commands with a time earlier than the previous one are treated as happening
 * at the previous time (time never runs backwards).
 */
export class CylinderOnScale {
  readonly tareKg: number;
  readonly residualKg: number;
  flowKgPerMin: number;
  openDelayMs: number;
  /** Mutable so a "slow valve" fault can lengthen it. */
  closeDelayMs: number;
  /** Fault: a stuck-open valve ignores close commands (welded contact, debris in the seat). */
  stuckOpen = false;
  private commanded = false;
  private lastCommandAt = -Infinity;
  private readonly spans: FlowSpan[] = [];

  constructor(o: CylinderOptions) {
    for (const [k, v] of Object.entries(o)) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`CylinderOnScale: ${k} must be a finite number >= 0, got ${v}`);
    }
    this.tareKg = o.tareKg;
    this.residualKg = o.residualKg;
    this.flowKgPerMin = o.flowKgPerMin;
    this.openDelayMs = o.openDelayMs;
    this.closeDelayMs = o.closeDelayMs;
  }

  /** What the valve was last told (true = open), regardless of faults. */
  get commandedOpen(): boolean {
    return this.commanded;
  }

  commandValve(open: boolean, tMs: number): void {
    const t = Math.max(tMs, this.lastCommandAt);
    this.lastCommandAt = t;
    if (open === this.commanded) return;
    if (open) {
      this.commanded = true;
      this.startFlow(t + this.openDelayMs);
    } else {
      if (this.stuckOpen) return; // the coil drops but the valve stays open
      this.commanded = false;
      this.stopFlow(t + this.closeDelayMs);
    }
  }

  /** Gas in the cylinder at tMs (residual plus everything that has flowed). */
  gasKg(tMs: number): number {
    let flowedMs = 0;
    for (const s of this.spans) {
      const end = Math.min(s.end, tMs);
      if (end > s.start) flowedMs += end - s.start;
    }
    return this.residualKg + (this.flowKgPerMin * flowedMs) / 60_000;
  }

  grossKg(tMs: number): number {
    return this.tareKg + this.gasKg(tMs);
  }

  /** Whether gas is really flowing at tMs (the valve's actual state, not the command). */
  valveOpenAt(tMs: number): boolean {
    return this.spans.some((s) => s.start <= tMs && tMs < s.end);
  }

  private startFlow(start: number): void {
    const last = this.spans[this.spans.length - 1];
    // Re-opened while still closing: the valve never shut, so the spans join.
    if (last && start <= last.end) {
      last.end = Infinity;
      return;
    }
    this.spans.push({ start, end: Infinity });
  }

  private stopFlow(end: number): void {
    const last = this.spans[this.spans.length - 1];
    if (!last || last.end !== Infinity) return;
    if (end <= last.start) this.spans.pop(); // closed again before any gas flowed
    else last.end = end;
  }
}

export interface ScaleModelOptions {
  /** Display division e (domain.md 4: 20 g or 50 g for class III filling scales). */
  divisionKg: number;
  /** Peak noise added before quantisation: readings stay within noiseKg + divisionKg/2 of the truth. */
  noiseKg: number;
  /** Internal update rate of the indicator; the value holds between updates. */
  updateHz: number;
  seed?: number;
}

/**
 * A weighing indicator's display: samples the true gross at its own update
 * rate, adds bounded noise and rounds to the division. `stable` mimics the
 * motion detector: the last updates within ±1 division over about half a second.
 */
export class ScaleModel {
  readonly divisionKg: number;
  readonly noiseKg: number;
  readonly updateHz: number;
  private readonly random: () => number;
  private readonly decimals: number;
  private lastUpdate = Number.NaN;
  private value = Number.NaN;
  private readonly history: number[] = [];
  private readonly historySize: number;

  constructor(o: ScaleModelOptions) {
    if (!(o.divisionKg > 0)) throw new RangeError(`ScaleModel: divisionKg must be > 0, got ${o.divisionKg}`);
    if (!(o.updateHz > 0)) throw new RangeError(`ScaleModel: updateHz must be > 0, got ${o.updateHz}`);
    if (!(o.noiseKg >= 0)) throw new RangeError(`ScaleModel: noiseKg must be >= 0, got ${o.noiseKg}`);
    this.divisionKg = o.divisionKg;
    this.noiseKg = o.noiseKg;
    this.updateHz = o.updateHz;
    this.random = mulberry32(o.seed ?? 1);
    this.decimals = decimalsOf(o.divisionKg);
    this.historySize = Math.max(2, Math.ceil(o.updateHz / 2));
  }

  /** Decimal places of the division (0.02 → 2), as a display would show them. */
  get decimalPlaces(): number {
    return this.decimals;
  }

  reading(trueGrossKg: number, tMs: number): number {
    const update = Math.floor((tMs * this.updateHz) / 1000);
    if (update !== this.lastUpdate) {
      this.lastUpdate = update;
      this.value = this.quantise(trueGrossKg + this.noise());
      this.history.push(this.value);
      if (this.history.length > this.historySize) this.history.shift();
    }
    return this.value;
  }

  /** Motion detector over the recent updates (call after reading()). */
  get stable(): boolean {
    if (this.history.length < this.historySize) return false;
    const spread = Math.max(...this.history) - Math.min(...this.history);
    return spread <= this.divisionKg * 1.0001;
  }

  quantise(kg: number): number {
    const steps = Math.round(kg / this.divisionKg);
    return Number((steps * this.divisionKg).toFixed(this.decimals));
  }

  /** Triangular noise in [-noiseKg, noiseKg]: bounded, and small values more likely than large. */
  private noise(): number {
    if (this.noiseKg === 0) return 0;
    return (this.random() + this.random() - 1) * this.noiseKg;
  }
}

function decimalsOf(x: number): number {
  for (let d = 0; d < 10; d++) {
    if (Math.abs(Math.round(x * 10 ** d) - x * 10 ** d) < 1e-9) return d;
  }
  return 10;
}
