/**
 * One reading decoded from a weighing indicator's stream, before it becomes a
 * WeightSample (devices/types.ts). Units are converted to kg by the codec.
 */
export interface ScaleReading {
  /** Displayed weight in kg: gross, or net when `net` is true. */
  weightKg: number;
  /** The indicator reports no motion. Formats without a motion flag (XK3190-A9) always say false: see the codec. */
  stable: boolean;
  /** Over capacity / out of range: the weight must not be trusted. */
  overload: boolean;
  /** The displayed weight is net (gross minus tare). */
  net?: boolean;
  /** Tare in kg, where the frame carries it (Toledo). */
  tareKg?: number;
  /** Centre of zero, where the frame says so. */
  zero?: boolean;
}
