/**
 * A driver that polls one Modbus unit on a fixed period: its health is the
 * unit's (kept by the bus arbiter) and its loop never dies on an error
 * (domain.md 7). Subclasses say what one poll does.
 */
import type { Signal } from '../protocols/signal.ts';
import type { ModbusUnit } from '../protocols/modbus/types.ts';
import type { DeviceHealth, Driver } from './types.ts';
import { repeat, type Repeater } from './repeat.ts';

export abstract class PolledUnitDriver implements Driver {
  private loop?: Repeater;

  constructor(
    readonly id: string,
    protected readonly unit: ModbusUnit,
    private readonly pollMs: number,
  ) {}

  get health(): Signal<DeviceHealth> {
    return this.unit.health;
  }

  /** Under this driver's id: drivers sharing a unit (a cut-off valve on the fill valves' relay module) each show up. */
  getHealth(): DeviceHealth {
    return { ...this.unit.getHealth(), device: this.id };
  }

  async start(): Promise<void> {
    this.loop ??= repeat(this.pollMs, () => this.pollOnce(), { immediate: true });
  }

  async stop(): Promise<void> {
    this.loop?.cancel();
    this.loop = undefined;
  }

  /** One poll; must not throw. */
  abstract pollOnce(): Promise<void>;
}
