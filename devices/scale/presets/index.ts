/**
 * The one registry of scale presets: adding a model is one file plus one line
 * here (engineering.md example 12).
 */
import { FillgateError } from '../../../protocols/errors.ts';
import { validateScaleMap, type ScaleRegisterMap } from '../modbus-scale-map.ts';
import type { ScalePreset } from './preset.ts';
import { generic } from './generic.ts';
import { flintecFt112 } from './flintec-ft112.ts';
import { rinstrumC500 } from './rinstrum-c500.ts';
import { minebeaPr5410 } from './minebea-pr5410.ts';
import { mettlerInd570 } from './mettler-ind570.ts';
import { casCi600d } from './cas-ci600d.ts';

export type { ScalePreset } from './preset.ts';

export const scalePresets: Readonly<Record<string, ScalePreset>> = Object.freeze(
  Object.fromEntries([generic, flintecFt112, rinstrumC500, minebeaPr5410, mettlerInd570, casCi600d].map((p) => [p.name, p])),
);

/** Partial map at any depth; `null` removes a field (e.g. `{ commands: null }`). Arrays replace. */
export type ScaleMapOverrides = DeepOverride<ScaleRegisterMap>;
type DeepOverride<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends readonly unknown[]
    ? T[K] | null
    : NonNullable<T[K]> extends object
      ? DeepOverride<NonNullable<T[K]>> | null
      : T[K] | null;
};

/**
 * The preset's map with the station's overrides applied, validated.
 * Throws FillgateError BAD_CONFIG for an unknown preset or an unusable result.
 */
export function resolveScaleMap(presetName: string, overrides: ScaleMapOverrides = {}): ScaleRegisterMap {
  const preset = scalePresets[presetName];
  if (!preset) {
    throw new FillgateError('BAD_CONFIG', `unknown scale preset "${presetName}"; known: ${Object.keys(scalePresets).join(', ')}`, {
      preset: presetName,
    });
  }
  const map = merge(structuredClone(preset.map), overrides) as ScaleRegisterMap;
  const errors = validateScaleMap(map);
  if (errors.length) {
    throw new FillgateError('BAD_CONFIG', `scale preset "${presetName}" with overrides: ${errors.join('; ')}`, {
      preset: presetName,
      errors,
    });
  }
  return map;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(over)) return over;
  const out: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    if (value === null) delete out[key];
    else out[key] = merge(out[key], value);
  }
  return out;
}
