/**
 * Gas detector controllers on Modbus RTU/TCP (issue 4 point 2: "polled through the drivers of
 * the station-in-a-box issue and feed the same events"). The map is configuration, with
 * presets in presets.ts (none verified on a device): one register per channel for %LEL
 * (× lelScale + lelOffset), and optionally a status register whose bits say level 1, level 2
 * and fault. Without a status register the level comes from the set-points (GB/T 50493:
 * first alarm ≤ 25 %LEL, second ≤ 50 %LEL). A failed poll emits nothing: the interlock's
 * silence timer turns a detector that stops answering into an alarm.
 */
import { Signal } from '../../protocols/signal.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { Clock } from '../../protocols/clock.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import { PolledUnitDriver } from '../polled-unit.ts';

export interface LeakChannelMap {
  /** Detector id used in alarms and the interlock, e.g. "ld-P1". */
  device: string;
  lelRegister: number;
  statusRegister?: number;
}

export interface ModbusLeakDetectorOptions {
  id: string;
  unit: ModbusUnit;
  channels: LeakChannelMap[];
  registerType?: 'holding' | 'input';
  /** %LEL per raw count (0.1 when the controller reports tenths). */
  lelScale?: number;
  /** Added after scaling (a controller whose 0 count is −10 %LEL: -10). */
  lelOffset?: number;
  level1Lel?: number;
  level2Lel?: number;
  /** Status bit numbers (0 = least significant). */
  bits?: { level1: number; level2: number; fault: number };
  pollMs?: number;
  clock: Clock;
}

export interface LeakReading {
  device: string;
  lel: number;
  level: 0 | 1 | 2;
  fault: boolean;
  at: number;
}

/** Pure decode of one channel, exported for tests and the simulator's own checks. */
export function decodeLeakChannel(raw: number, status: number | undefined, o: Pick<ModbusLeakDetectorOptions, 'lelScale' | 'lelOffset' | 'level1Lel' | 'level2Lel' | 'bits'>): Omit<LeakReading, 'device' | 'at'> {
  const lel = Math.round((raw * (o.lelScale ?? 1) + (o.lelOffset ?? 0)) * 10) / 10;
  if (status !== undefined) {
    const b = o.bits ?? { level1: 0, level2: 1, fault: 2 };
    const bit = (n: number) => ((status >> n) & 1) === 1;
    const level = bit(b.level2) ? 2 : bit(b.level1) ? 1 : 0;
    return { lel, level, fault: bit(b.fault) };
  }
  // Out of range counts as a fault: a sensor reading above 100 %LEL is broken or saturated.
  const fault = lel > 100;
  const level = fault || lel >= (o.level2Lel ?? 50) ? 2 : lel >= (o.level1Lel ?? 25) ? 1 : 0;
  return { lel: Math.min(lel, 100), level, fault };
}

export class ModbusLeakDetector extends PolledUnitDriver {
  readonly readings = new Signal<LeakReading>();
  readonly pollErrors = new Signal<{ device: string; message: string; at: number }>();

  constructor(private o: ModbusLeakDetectorOptions) {
    super(o.id, o.unit, o.pollMs ?? 1000);
  }

  /** One poll of every channel; never throws (a polling loop must not die, domain.md 7). */
  async pollOnce(): Promise<void> {
    const read = (addr: number) =>
      this.o.registerType === 'input' ? this.o.unit.readInputRegisters(addr, 1) : this.o.unit.readHoldingRegisters(addr, 1);
    for (const ch of this.o.channels) {
      try {
        const [raw] = await read(ch.lelRegister);
        const status = ch.statusRegister === undefined ? undefined : (await read(ch.statusRegister))[0];
        this.readings.emit({ device: ch.device, at: this.o.clock.now(), ...decodeLeakChannel(raw, status, this.o) });
      } catch (err) {
        this.pollErrors.emit({ device: ch.device, message: errorMessage(err), at: this.o.clock.now() });
      }
    }
  }
}
