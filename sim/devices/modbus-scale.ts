/**
 * A weighing indicator answering Modbus, with the register maps the simulator
 * models itself (it must not borrow the gateway's presets: it would then test
 * the driver against its own reading of the manual).
 *
 * flintec-ft112 (FT-112 Technical Manual Rev 1.0.0 section 13.2.1, devices.md 1.3),
 *   holding registers, wire = manual number - 40001, int32 high word first:
 *   0 actual weight (net in net mode), 2 tare, 4 gross, 6 status (B2 unstable,
 *   B3 net mode, B12 centre of zero, B27..B31 decimal point), 8 error status
 *   (B4 ADC over range), 10 heartbeat (+1 every 100 ms), 12 last print, 14 CN,
 *   16/18/20 M+ quantity/total/grand total, 24 command (1 zero, 2 tare, 3 clear).
 *   Weights are integers: kg × 10^decimals.
 * rinstrum-c500 (C500-600-2.0.3 p.101/p.145, devices.md 1.5), input registers
 *   (FC04) at wire 1 gross, 3 net, 5 displayed (SINT32), 7 status (bit1 overload,
 *   bit2 motion, bit3 gross, bit6 centre of zero), 9 error; coils 0 zero, 1 tare
 *   (self-clearing). Integers without decimal point (kg × 10^decimals).
 * explicit: one weight value (any register type and word order) and optional
 *   16-bit status word with motion and overload bits, and optionally the
 *   indicator's setpoint 1 (`setpointAddress`, in the weight's format).
 *
 * Setpoint output (issue 9 point 7): on while the indicator's own gross is at or
 * above setpoint 1 (a setpoint of 0 = never programmed = off), checked by the
 * simulator every few ms; each change is logged in the wire log (kind 'setpoint')
 * and told to the post, whose valve loses power if the station wires it so. The
 * FT-112 and C500 maps have no setpoint register (none in the manual pages the
 * simulator follows).
 */
import { decodeValue, encodeValue, registerCount, type RegisterFormat } from '../../protocols/modbus/registers.ts';
import { type ModbusRequest, type ModbusResponse, ModbusExceptionCode } from '../../protocols/modbus/frames.ts';
import { ModbusException, type SimUnit, type UnitBus, readBlock } from '../wire/modbus-slave.ts';
import type { FaultBook } from '../faults.ts';
import type { ExplicitMap, ModbusScaleSpec } from '../station.ts';
import type { SimReading, SimScale } from './scale.ts';

type Area = 'holding' | 'input';

interface Image {
  area: Area;
  registers: Map<number, number>;
}

const int32 = (v: number) => encodeValue(v, { type: 'int32', wordOrder: 'big' });
const uint32 = (v: number) => encodeValue(v >>> 0, { type: 'uint32', wordOrder: 'big' });

function put(m: Map<number, number>, address: number, words: number[]): void {
  words.forEach((w, i) => m.set(address + i, w));
}

function scaled(kg: number, decimals: number): number {
  return Math.round(kg * 10 ** decimals);
}

/** FT-112 status: decimal point bit B27 (4 decimals) .. B31 (none). */
function flintecDecimalBit(decimals: number): number {
  return 2 ** (31 - Math.min(4, Math.max(0, decimals)));
}

function flintecImage(r: SimReading, decimals: number, tMs: number): Image {
  const m = new Map<number, number>();
  const status = (r.stable ? 0 : 1 << 2) | (r.net ? 1 << 3 : 0) | (r.zero ? 1 << 12 : 0);
  put(m, 0, int32(scaled(r.weightKg, decimals)));
  put(m, 2, int32(scaled(r.tareKg, decimals)));
  put(m, 4, int32(scaled(r.grossKg, decimals)));
  put(m, 6, uint32(status + flintecDecimalBit(decimals)));
  put(m, 8, uint32(r.overload ? 1 << 4 : 0));
  put(m, 10, uint32(Math.floor(tMs / 100) % 0x100000000));
  for (const a of [12, 14, 16, 18, 20, 22]) put(m, a, [0, 0]);
  put(m, 24, [0, 0]); // command register reads back 0: commands act at once
  return { area: 'holding', registers: m };
}

function rinstrumImage(r: SimReading, decimals: number): Image {
  const m = new Map<number, number>();
  const status = (r.overload ? 1 << 1 : 0) | (r.stable ? 0 : 1 << 2) | (r.net ? 0 : 1 << 3) | (r.zero ? 1 << 6 : 0);
  put(m, 1, int32(scaled(r.grossKg, decimals)));
  put(m, 3, int32(scaled(r.netKg, decimals)));
  put(m, 5, int32(scaled(r.weightKg, decimals)));
  put(m, 7, uint32(status));
  put(m, 9, uint32(0));
  return { area: 'input', registers: m };
}

function explicitImage(r: SimReading, map: ExplicitMap, decimals: number): Image {
  const m = new Map<number, number>();
  const value = map.type === 'float32' ? r.weightKg : scaled(r.weightKg, map.decimals ?? decimals);
  put(m, map.weightAddress, encodeValue(value, { type: map.type, wordOrder: map.wordOrder, byteSwap: map.byteSwap }));
  if (map.statusAddress !== undefined) {
    let status = 0;
    if (map.motionBit !== undefined && !r.stable) status |= 1 << map.motionBit;
    if (map.overloadBit !== undefined && r.overload) status |= 1 << map.overloadBit;
    m.set(map.statusAddress, status);
  }
  return { area: map.area, registers: m };
}

/** Where and how the setpoint lives, when the map has one. */
interface SetpointFormat extends RegisterFormat {
  address: number;
  count: number;
  decimals: number | undefined;
}

export class ModbusScaleUnit implements SimUnit {
  readonly deviceIds: readonly string[];
  /** Setpoint 1 registers as last written (wire order); all zero = not programmed. */
  private setpointWords: number[] = [];
  private readonly sp: SetpointFormat | undefined;
  /** The setpoint output: on while gross ≥ setpoint. */
  output = false;
  private bus: UnitBus | undefined;

  constructor(
    readonly unitId: number,
    private readonly scale: SimScale,
    private readonly spec: ModbusScaleSpec,
    private readonly faults?: FaultBook,
    /** Told about every change of the setpoint output (the post cuts the valve power where wired). */
    private readonly onOutput?: (on: boolean, tMs: number) => void,
  ) {
    this.deviceIds = [scale.id];
    const map = spec.registerMap;
    if (typeof map === 'object' && map.setpointAddress !== undefined) {
      this.sp = { address: map.setpointAddress, count: registerCount(map.type), type: map.type, wordOrder: map.wordOrder, byteSwap: map.byteSwap, decimals: map.decimals };
      this.setpointWords = new Array(this.sp.count).fill(0);
    }
  }

  attach(bus: UnitBus): void {
    this.bus = bus;
  }

  get hasSetpoint(): boolean {
    return this.sp !== undefined;
  }

  /** Setpoint 1 in kg (0 when never programmed or when the map has none). */
  get setpointKg(): number {
    if (!this.sp) return 0;
    const raw = decodeValue(this.setpointWords, this.sp);
    return this.sp.type === 'float32' ? raw : raw / 10 ** (this.sp.decimals ?? this.scale.decimals);
  }

  /** Re-evaluates the setpoint output against the indicator's own gross; the simulator calls this every few ms. */
  checkSetpoint(tMs: number): void {
    if (!this.sp) return;
    const sp = this.setpointKg;
    const on = sp > 0 && this.scale.read(tMs).grossKg >= sp;
    if (on === this.output) return;
    this.output = on;
    this.bus?.log({ kind: 'setpoint', on, value: sp });
    this.onOutput?.(on, tMs);
  }

  private inSetpoint(address: number, count: number): boolean {
    return this.sp !== undefined && address >= this.sp.address && address + count <= this.sp.address + this.sp.count;
  }

  image(tMs: number): Image {
    const r = this.scale.read(tMs);
    const map = this.spec.registerMap;
    if (map === 'flintec-ft112') return flintecImage(r, this.scale.decimals, tMs);
    if (map === 'rinstrum-c500') return rinstrumImage(r, this.scale.decimals);
    return explicitImage(r, map, this.scale.decimals);
  }

  handle(req: ModbusRequest, now: number): ModbusResponse {
    if ('unsupported' in req) throw new ModbusException(ModbusExceptionCode.illegalFunction, 'unsupported');
    switch (req.fc) {
      case 3:
      case 4: {
        if (req.fc === 3 && this.inSetpoint(req.address, req.count)) {
          const off = req.address - this.sp!.address;
          return { fc: 3, registers: this.setpointWords.slice(off, off + req.count) };
        }
        const img = this.image(now);
        const want: Area = req.fc === 3 ? 'holding' : 'input';
        if (img.area !== want) throw new ModbusException(ModbusExceptionCode.illegalDataAddress, `no ${want} registers`);
        return { fc: req.fc, registers: readBlock(img.registers, req.address, req.count, 'register') };
      }
      case 6:
      case 16:
        return this.writeRegisters(req.fc, req.address, req.fc === 6 ? [req.value] : req.values, now);
      case 5:
        return this.writeCoil(req.address, req.value, now);
      default:
        throw new ModbusException(ModbusExceptionCode.illegalFunction, `function ${req.fc} not supported by a scale`);
    }
  }

  private writeRegisters(fc: 6 | 16, address: number, values: number[], now: number): ModbusResponse {
    const ack: ModbusResponse = fc === 6 ? { fc, address, value: values[0]! } : { fc, address, count: values.length };
    if (this.inSetpoint(address, values.length)) {
      // Fault "ignore-setpoint": acknowledged, not stored (a locked setup, a firmware that ignores remote writes).
      if (this.faults?.any(this.deviceIds, 'ignore-setpoint')) return ack;
      const off = address - this.sp!.address;
      values.forEach((v, i) => (this.setpointWords[off + i] = v));
      this.checkSetpoint(now);
      return ack;
    }
    if (this.spec.registerMap !== 'flintec-ft112' || address < 24 || address + values.length > 26) {
      throw new ModbusException(ModbusExceptionCode.illegalDataAddress, `register ${address} is not writable`);
    }
    const cmd = values[values.length - 1]!;
    if (![0, 1, 2, 3].includes(cmd)) throw new ModbusException(ModbusExceptionCode.illegalDataValue, `command ${cmd}`);
    if (cmd === 1) this.scale.zero(now);
    if (cmd === 2) this.scale.tare(now);
    if (cmd === 3) this.scale.clearTare();
    return fc === 6 ? { fc, address, value: values[0]! } : { fc, address, count: values.length };
  }

  private writeCoil(address: number, on: boolean, now: number): ModbusResponse {
    if (this.spec.registerMap !== 'rinstrum-c500' || address > 1) {
      throw new ModbusException(ModbusExceptionCode.illegalDataAddress, `coil ${address} does not exist`);
    }
    if (on && address === 0) this.scale.zero(now);
    if (on && address === 1) this.scale.tare(now);
    return { fc: 5, address, value: on };
  }
}
