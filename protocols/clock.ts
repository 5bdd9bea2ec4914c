/**
 * Time is injected everywhere so that safety logic can be tested as tables.
 * `now()` is monotonic milliseconds (never jumps with the PC clock);
 * `wall()` is epoch milliseconds, used only for labelling records.
 */
export interface Clock {
  now(): number;
  wall(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
};

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(public mono = 0, public epoch = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.mono;
  }
  wall(): number {
    return this.epoch + this.mono;
  }
  advance(ms: number): void {
    this.mono += ms;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
