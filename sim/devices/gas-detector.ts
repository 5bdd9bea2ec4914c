/**
 * A gas detector controller on Modbus (GB 15322 detectors wired to a controller; domain.md 5):
 * one unit with one or more sensors, each with its %LEL, its alarm level worked out by the
 * controller from its set-points (GB/T 50493: first ≤ 25 %LEL, second ≤ 50 %LEL) and a fault
 * flag. The register maps are the simulator's own reading of where they come from, on purpose
 * independent of the gateway's devices/leak/presets.ts:
 *
 * generic (fillgate's own layout, no real device): holding registers (FC03), sensor n's
 *   %LEL × 10 at n−1, its status at 100 + n−1: bit0 level 1, bit1 level 2, bit2 fault.
 * igd-toc635 (IGD TOC-635 Plus manual SL-014 v1.6 p.33): input registers (FC04), "Sensor
 *   Conc" 30,001 + n−1 → wire n−1, 0 = −10 %LEL … 1200 = 110 %LEL in 0.1 %; "Sensor Status"
 *   33,001 + n−1 → wire 3000 + n−1: bit0 AL1, bit1 AL2, bit3 Fault.
 * Anything else is exception 2 (address) or 1 (function).
 */
import { type ModbusRequest, type ModbusResponse, ModbusExceptionCode } from '../../protocols/modbus/frames.ts';
import { ModbusException, type SimUnit, type UnitBus } from '../wire/modbus-slave.ts';

export interface GasSensor {
  id: string;
  lel: number;
  fault: boolean;
}

export interface GasDetectorOptions {
  id: string;
  unitId: number;
  registerMap: 'generic' | 'igd-toc635';
  sensors: string[];
  level1Lel: number;
  level2Lel: number;
}

export class SimGasDetector implements SimUnit {
  readonly unitId: number;
  readonly deviceIds: readonly string[];
  readonly sensors: GasSensor[];
  private bus: UnitBus | undefined;

  constructor(readonly o: GasDetectorOptions) {
    this.unitId = o.unitId;
    this.deviceIds = [`${o.id}.detector`];
    this.sensors = o.sensors.map((id) => ({ id, lel: 0, fault: false }));
  }

  attach(bus: UnitBus): void {
    this.bus = bus;
  }

  level(s: GasSensor): 0 | 1 | 2 {
    return s.lel >= this.o.level2Lel ? 2 : s.lel >= this.o.level1Lel ? 1 : 0;
  }

  /** Gas at a sensor (%LEL, -10..110) and/or its fault flag; logged in the wire log as a `gas` entry. */
  set(sensor: string, change: { lel?: number; fault?: boolean }): GasSensor {
    const s = this.sensors.find((x) => x.id === sensor);
    if (!s) throw new Error(`no sensor ${sensor} on ${this.o.id}`);
    if (change.lel !== undefined) s.lel = Math.max(-10, Math.min(110, change.lel));
    if (change.fault !== undefined) s.fault = change.fault;
    this.bus?.log({ kind: 'gas', reason: s.id, value: s.lel, on: s.fault, count: this.level(s) });
    return { ...s };
  }

  handle(req: ModbusRequest, _now: number): ModbusResponse {
    if ('unsupported' in req) throw new ModbusException(ModbusExceptionCode.illegalFunction, 'unsupported');
    const area = this.o.registerMap === 'generic' ? 3 : 4;
    if (req.fc !== area) throw new ModbusException(ModbusExceptionCode.illegalFunction, `function ${req.fc} not supported by ${this.o.registerMap}`);
    const { address, count } = req as { address: number; count: number };
    const registers: number[] = [];
    for (let a = address; a < address + count; a++) registers.push(this.register(a));
    return { fc: area, registers };
  }

  private register(a: number): number {
    const generic = this.o.registerMap === 'generic';
    const statusBase = generic ? 100 : 3000;
    const n = this.sensors.length;
    if (a < n) {
      const s = this.sensors[a]!;
      return generic ? Math.max(0, Math.round(s.lel * 10)) : Math.round((s.lel + 10) * 10);
    }
    if (a >= statusBase && a < statusBase + n) {
      const s = this.sensors[a - statusBase]!;
      const level = this.level(s);
      return (level >= 1 ? 1 : 0) | (level === 2 ? 2 : 0) | (s.fault ? (generic ? 4 : 8) : 0);
    }
    throw new ModbusException(ModbusExceptionCode.illegalDataAddress, `register ${a} does not exist`);
  }
}
