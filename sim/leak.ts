/**
 * The control side of the simulated gas detectors and cut-off valves (sim/devices/gas-detector.ts,
 * cutoff.ts): set a sensor's gas or fault, reopen a cut-off valve by hand, and their state. A
 * detector goes silent with the ordinary `no-answer` fault on `<id>.detector`.
 */
import { FillgateError } from '../protocols/errors.ts';
import type { Built } from './build.ts';
import type { GasSensor } from './devices/gas-detector.ts';

export interface LeakSimState {
  detectors: { id: string; unitId: number; sensors: (GasSensor & { level: number })[] }[];
  cutoffs: { id: string; coil: boolean; closed: boolean }[];
}

const bad = (status: 400 | 404 | 409, message: string) => new FillgateError('BAD_PAYLOAD', message, { httpStatus: status });

/** Sets gas (%LEL, -10..110) and/or the fault flag at one sensor, found by its id. */
export function setGas(b: Built, sensor: string, change: { lel?: number; fault?: boolean }): GasSensor & { level: number } {
  if (change.lel !== undefined && !Number.isFinite(change.lel)) throw bad(400, 'lel must be a number (%LEL)');
  if (change.lel === undefined && change.fault === undefined) throw bad(400, 'give lel (%LEL) and/or fault (true/false)');
  for (const d of b.gas.values()) {
    if (!d.sensors.some((s) => s.id === sensor)) continue;
    const s = d.set(sensor, change);
    return { ...s, level: d.level(s) };
  }
  const known = [...b.gas.values()].flatMap((d) => d.sensors.map((s) => s.id));
  throw bad(404, `unknown gas sensor '${sensor}' (sensors: ${known.join(', ') || 'none'})`);
}

/** A person reopens a cut-off valve; refused (409) while its trip coil is energised. */
export function reopenCutoff(b: Built, id: string, t: number): { closed: boolean } {
  const v = b.cutoffs.get(id);
  if (!v) throw bad(404, `unknown cut-off valve '${id}' (valves: ${[...b.cutoffs.keys()].join(', ') || 'none'})`);
  try {
    v.reopen(t);
  } catch (err) {
    throw bad(409, (err as Error).message);
  }
  return { closed: v.closed };
}

export function leakState(b: Built, t: number): LeakSimState {
  return {
    detectors: [...b.gas.values()].map((d) => ({ id: d.o.id, unitId: d.unitId, sensors: d.sensors.map((s) => ({ ...s, level: d.level(s) })) })),
    cutoffs: [...b.cutoffs.entries()].map(([id, v]) => ({ id, coil: v.coil, closed: v.isClosed(t) })),
  };
}
