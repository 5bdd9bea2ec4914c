/**
 * Register maps of gas detector controllers (GB 15322 detectors wired to a controller that
 * speaks Modbus). One entry per model; adding one is an entry here. Channel n (1-based) of a
 * controller is at `lelBase + (n - 1)` and, with a status register, `statusBase + (n - 1)`.
 * `verified` says how sure each map is: none has been checked against a device yet.
 */
import { FillgateError } from '../../protocols/errors.ts';

export interface LeakDetectorMap {
  name: string;
  /** FC03 holding or FC04 input registers. */
  registerType: 'holding' | 'input';
  lelBase: number;
  statusBase?: number;
  /** %LEL = raw × lelScale + lelOffset. */
  lelScale: number;
  lelOffset: number;
  /** Status bits (0 = least significant). */
  bits?: { level1: number; level2: number; fault: number };
  /** Highest channel number the controller has. */
  channels: number;
  /** Where the map comes from and what is not verified. */
  source: string;
  verified: false;
}

export const leakDetectorMaps: Readonly<Record<string, LeakDetectorMap>> = Object.freeze({
  /**
   * Not a real device: the layout the simulator serves by default, for a controller that can be
   * set up to it. Holding registers: channel n's %LEL × 10 at n−1, its status at 100 + n−1
   * (bit0 level 1, bit1 level 2, bit2 fault).
   */
  generic: {
    name: 'generic',
    registerType: 'holding',
    lelBase: 0,
    statusBase: 100,
    lelScale: 0.1,
    lelOffset: 0,
    bits: { level1: 0, level2: 1, fault: 2 },
    channels: 32,
    source: "fillgate's own layout (sim/devices/gas-detector.ts); configure the controller to it or use overrides",
    verified: false,
  },
  /**
   * IGD TOC-635 Plus controller, manual SL-014 v1.6 p.33 "MODBUS internal memory map"
   * (https://manualshive.com/ru/manual/igd/toc-635-plus/3900861?page=33): FC04 "Read Sensor Conc"
   * 30,001-30,999 = sensors 1-999, 0 = −10 %LEL … 1200 = 110 %LEL, resolution 0.1 %; "Read Sensor
   * Status" 33,001-33,999, bit0 AL1, bit1 AL2, bit3 Fault. Read off a transcription of the manual
   * page, NOT verified on a controller: the Modicon numbers are taken as 1-based (30,001 → wire 0),
   * and the −10 % offset follows from the min/max rows, which is an inference.
   */
  'igd-toc635': {
    name: 'igd-toc635',
    registerType: 'input',
    lelBase: 0,
    statusBase: 3000,
    lelScale: 0.1,
    lelOffset: -10,
    bits: { level1: 0, level2: 1, fault: 3 },
    channels: 999,
    source: 'IGD TOC-635 Plus manual SL-014 v1.6 p.33 (transcription; not verified on a device)',
    verified: false,
  },
});

/** Per-channel register addresses of a map. Throws BAD_CONFIG for an unknown map or channel. */
export function channelRegisters(map: LeakDetectorMap, channel: number): { lelRegister: number; statusRegister?: number } {
  if (!Number.isInteger(channel) || channel < 1 || channel > map.channels) {
    throw new FillgateError('BAD_CONFIG', `channel ${channel} is outside 1..${map.channels} of preset ${map.name}`, { channel });
  }
  return { lelRegister: map.lelBase + channel - 1, ...(map.statusBase !== undefined ? { statusRegister: map.statusBase + channel - 1 } : {}) };
}

export function leakDetectorMap(name: string): LeakDetectorMap {
  const m = leakDetectorMaps[name];
  if (!m) throw new FillgateError('BAD_CONFIG', `unknown leak detector preset "${name}"; known: ${Object.keys(leakDetectorMaps).join(', ')}`, { preset: name });
  return m;
}
