import type { ScaleRegisterMap } from '../modbus-scale-map.ts';

/** A named register map for one indicator model, with where it came from and what is unverified. */
export interface ScalePreset {
  /** Key used in config, e.g. "flintec-ft112". */
  name: string;
  /** Human name of the model(s). */
  title: string;
  /** Manual(s) the map was taken from. */
  sources: string[];
  /** True only after the map was checked against a real device or the vendor's own manual. */
  verified: boolean;
  /** What was not verified and what the integrator must set or check. */
  notes: string[];
  map: ScaleRegisterMap;
}
