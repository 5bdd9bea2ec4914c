/**
 * An emergency gas cut-off valve (CJ/T 394) tripped through a relay coil: energising the coil
 * closes it after `closeDelayMs`, and it stays closed (latched) when the coil is released;
 * only a person reopens it (`reopen`), and not while the trip coil is still energised. A
 * discrete input of the same relay module reports ON while it is closed.
 */
export interface CutoffSpecLike {
  id: string;
  closeDelayMs: number;
}

export class SimCutoffValve {
  closed = false;
  private closingAt: number | undefined;
  coil = false;

  constructor(readonly spec: CutoffSpecLike, private readonly onChange: (closed: boolean, tMs: number, source: string) => void) {}

  /** The relay coil changed (by a write or the module's watchdog). */
  command(on: boolean, t: number): void {
    this.coil = on;
    if (on && !this.closed && this.closingAt === undefined) this.closingAt = t + this.spec.closeDelayMs;
  }

  /** Moves the valve on to time t; the relay module asks this for the feedback input. */
  isClosed(t: number): boolean {
    if (this.closingAt !== undefined && t >= this.closingAt) {
      this.closingAt = undefined;
      this.closed = true;
      this.onChange(true, t, 'trip');
    }
    return this.closed;
  }

  /** A person reopens it by hand. */
  reopen(t: number): void {
    this.isClosed(t);
    if (this.coil) throw new Error(`cut-off valve ${this.spec.id}: the trip coil is still energised, it cannot be reopened`);
    if (!this.closed) return;
    this.closed = false;
    this.onChange(false, t, 'manual');
  }
}
