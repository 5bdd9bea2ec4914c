/**
 * A relay / digital I/O module on Modbus (Moxa ioLogik E1214, ADAM-4068,
 * Waveshare and LCTech boards; devices.md 5): coils drive the relays (FC1 read,
 * FC5/FC15 write; ON = energised = valve open), discrete inputs (FC2) report
 * valve feedback and the operator's buttons.
 *
 * Comms watchdog ("safe value" of Moxa ioThinx, ADAM "Comm Safety", ICP DAS
 * host WDT): when no request reached the module for watchdogMs, every coil
 * goes OFF, so a dead gateway cannot leave a valve open.
 */
import { type ModbusRequest, type ModbusResponse, ModbusExceptionCode } from '../../protocols/modbus/frames.ts';
import { ModbusException, type SimUnit } from '../wire/modbus-slave.ts';

export interface RelayOptions {
  unitId: number;
  deviceIds: string[];
  channels: number;
  watchdogMs?: number;
  /** Told about every coil change, including those made by the watchdog. */
  onCoil: (coil: number, on: boolean, tMs: number, source: 'write' | 'watchdog') => void;
}

export class SimRelayModule implements SimUnit {
  readonly unitId: number;
  readonly deviceIds: string[];
  readonly coils: boolean[];
  readonly watchdogMs: number | undefined;
  /** Off in tests about the gateway's own behaviour, so the module cannot hide what the gateway wrote. */
  watchdogEnabled = true;
  watchdogTrips = 0;
  lastRequestAt: number | undefined;
  private readonly inputs = new Map<number, (tMs: number) => boolean>();

  constructor(private readonly o: RelayOptions) {
    this.unitId = o.unitId;
    this.deviceIds = o.deviceIds;
    this.coils = Array.from({ length: o.channels }, () => false);
    this.watchdogMs = o.watchdogMs;
  }

  /** Wires a discrete input to a live value (valve feedback, a button). */
  setInput(address: number, read: (tMs: number) => boolean): void {
    this.inputs.set(address, read);
  }

  input(address: number, tMs: number): boolean {
    return this.inputs.get(address)?.(tMs) ?? false;
  }

  handle(req: ModbusRequest, now: number): ModbusResponse {
    this.lastRequestAt = now;
    if ('unsupported' in req) throw new ModbusException(ModbusExceptionCode.illegalFunction, 'unsupported');
    switch (req.fc) {
      case 1:
        this.checkRange(req.address, req.count);
        return { fc: 1, bits: this.coils.slice(req.address, req.address + req.count) };
      case 2:
        this.checkRange(req.address, req.count);
        return { fc: 2, bits: Array.from({ length: req.count }, (_, i) => this.input(req.address + i, now)) };
      case 5:
        this.checkRange(req.address, 1);
        this.setCoil(req.address, req.value, now);
        return { fc: 5, address: req.address, value: req.value };
      case 15:
        this.checkRange(req.address, req.values.length);
        req.values.forEach((v, i) => this.setCoil(req.address + i, v, now));
        return { fc: 15, address: req.address, count: req.values.length };
      default:
        throw new ModbusException(ModbusExceptionCode.illegalFunction, `function ${req.fc} not supported by a relay module`);
    }
  }

  /** Called periodically: trips the watchdog when the module has heard nothing for watchdogMs. */
  checkWatchdog(now: number): boolean {
    if (!this.watchdogEnabled || this.watchdogMs === undefined || this.lastRequestAt === undefined) return false;
    if (now - this.lastRequestAt < this.watchdogMs || !this.coils.some(Boolean)) return false;
    this.watchdogTrips++;
    this.coils.forEach((on, i) => on && this.setCoil(i, false, now, 'watchdog'));
    return true;
  }

  private setCoil(coil: number, on: boolean, now: number, source: 'write' | 'watchdog' = 'write'): void {
    if (this.coils[coil] === on) return;
    this.coils[coil] = on;
    this.o.onCoil(coil, on, now, source);
  }

  private checkRange(address: number, count: number): void {
    if (address + count > this.coils.length) {
      throw new ModbusException(ModbusExceptionCode.illegalDataAddress, `channels ${address}..${address + count - 1} beyond ${this.coils.length}`);
    }
  }
}
