/**
 * Emergency gas cut-off valve (CJ/T 394) driven over Modbus through a relay/IO module: a
 * close command energises the close coil (held, or pulsed for valves with a latching
 * mechanism), and a feedback input says whether the valve is closed. Reopening is manual
 * (CJ/T 394), so this driver has no open command at all.
 */
import { Signal } from '../../protocols/signal.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { Clock } from '../../protocols/clock.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import { PolledUnitDriver } from '../polled-unit.ts';

export interface ModbusCutoffOptions {
  id: string;
  unit: ModbusUnit;
  closeCoil: number;
  /** Release the coil after this long (pulse-to-close valves); omit to hold it. */
  closePulseMs?: number;
  feedback: { kind: 'discrete' | 'coil'; address: number; closedWhen: boolean };
  pollMs?: number;
  clock: Clock;
}

export type CutoffPosition = 'open' | 'closed' | 'fault';

export class ModbusCutoffValve extends PolledUnitDriver {
  readonly states = new Signal<{ device: string; state: CutoffPosition; at: number; detail?: string }>();
  private last?: CutoffPosition;

  constructor(private o: ModbusCutoffOptions) {
    super(o.id, o.unit, o.pollMs ?? 500);
  }

  /** Drives the valve closed. Rejects on a write failure; the caller (the interlock) retries. */
  async close(): Promise<void> {
    await this.o.unit.writeCoil(this.o.closeCoil, true);
    if (this.o.closePulseMs !== undefined) {
      setTimeout(() => void this.o.unit.writeCoil(this.o.closeCoil, false).catch(() => undefined), this.o.closePulseMs);
    }
    await this.pollOnce();
  }

  /**
   * De-energises a held trip coil after a supervisor's reset, so the valve can be reopened by
   * hand (a latching CJ/T 394 valve cannot be reset while its trip coil is held). Never opens
   * the valve itself. A no-op for pulsed coils, which are released already.
   */
  async release(): Promise<void> {
    if (this.o.closePulseMs === undefined) await this.o.unit.writeCoil(this.o.closeCoil, false);
  }

  /** Reads the feedback; emits every reading (the interlock wants repeated "closed" as acks). Never throws. */
  async pollOnce(): Promise<void> {
    const f = this.o.feedback;
    try {
      const [v] = f.kind === 'discrete' ? await this.o.unit.readDiscreteInputs(f.address, 1) : await this.o.unit.readCoils(f.address, 1);
      this.last = v === f.closedWhen ? 'closed' : 'open';
      this.states.emit({ device: this.o.id, state: this.last, at: this.o.clock.now() });
    } catch (err) {
      this.last = 'fault';
      this.states.emit({ device: this.o.id, state: 'fault', at: this.o.clock.now(), detail: errorMessage(err) });
    }
  }

  get position(): CutoffPosition | undefined {
    return this.last;
  }
}
