/**
 * A simulated weighing indicator: the physics' ScaleModel (division, noise,
 * update rate) plus what an indicator adds on top: zero and tare, overload
 * above capacity, and the "frozen" fault (the display stops updating but the
 * indicator keeps answering, the nastiest failure for a filling controller).
 */
import { ScaleModel } from '../physics.ts';
import type { FaultBook } from '../faults.ts';
import type { ScaleSpec } from '../station.ts';

export interface SimReading {
  /** Displayed weight: gross, or net when a tare is set. */
  weightKg: number;
  grossKg: number;
  netKg: number;
  tareKg: number;
  net: boolean;
  stable: boolean;
  overload: boolean;
  /** Within ¼ division of zero. */
  zero: boolean;
}

/** OIML R 76 style: overload shows above Max + 9 e. */
const OVERLOAD_DIVISIONS = 9;
/** Motion window: the load must not have moved more than a division in this long (indicators use ~0.3-1 s). */
const MOTION_WINDOW_MS = 500;

export class SimScale {
  readonly model: ScaleModel;
  private zeroOffsetKg = 0;
  private tareKg = 0;
  private last: SimReading | undefined;
  private frozenAt: SimReading | undefined;
  private disturbedAt = -Infinity;

  constructor(
    readonly id: string,
    readonly spec: ScaleSpec,
    /** True gross mass on the platform at time t (ms). */
    private readonly load: (tMs: number) => number,
    private readonly faults: FaultBook,
    seed: number,
  ) {
    this.model = new ScaleModel({ divisionKg: spec.divisionKg, noiseKg: spec.noiseKg, updateHz: spec.updateHz, seed: spec.seed ?? seed });
  }

  get decimals(): number {
    return this.model.decimalPlaces;
  }

  read(tMs: number): SimReading {
    if (this.faults.get(this.id, 'frozen')) {
      this.frozenAt ??= this.last ?? this.compute(tMs);
      return this.frozenAt;
    }
    this.frozenAt = undefined;
    this.last = this.compute(tMs);
    return this.last;
  }

  /** Something was put on or taken off the platform: the display moves for a while. */
  disturb(tMs: number): void {
    this.disturbedAt = tMs;
  }

  /**
   * Motion detection from the true load (not the noisy display), so a
   * reading is stable whenever the platform is still, however rarely it is read.
   */
  private stableAt(tMs: number): boolean {
    if (tMs - this.disturbedAt < MOTION_WINDOW_MS) return false;
    return Math.abs(this.load(tMs) - this.load(tMs - MOTION_WINDOW_MS)) <= this.spec.divisionKg;
  }

  /** Zero command: accepted like most indicators only when stable and within a small range (here ±2 % of capacity). */
  zero(tMs: number): boolean {
    const r = this.compute(tMs);
    if (!r.stable || Math.abs(r.grossKg) > this.spec.capacityKg * 0.02) return false;
    this.zeroOffsetKg += r.grossKg;
    return true;
  }

  /** Tare command: the current gross becomes the tare (display switches to net). */
  tare(tMs: number): boolean {
    const r = this.compute(tMs);
    if (!r.stable || r.overload) return false;
    this.tareKg = r.grossKg;
    return true;
  }

  clearTare(): void {
    this.tareKg = 0;
  }

  private compute(tMs: number): SimReading {
    const trueGross = this.load(tMs);
    const gross = this.model.quantise(this.model.reading(trueGross, tMs) - this.zeroOffsetKg);
    const net = this.model.quantise(gross - this.tareKg);
    const isNet = this.tareKg !== 0;
    return {
      weightKg: isNet ? net : gross,
      grossKg: gross,
      netKg: net,
      tareKg: this.tareKg,
      net: isNet,
      stable: this.stableAt(tMs),
      overload: trueGross > this.spec.capacityKg + OVERLOAD_DIVISIONS * this.spec.divisionKg,
      zero: Math.abs(gross) < this.spec.divisionKg / 4,
    };
  }
}
