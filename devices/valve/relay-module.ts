/**
 * What the valves on one relay module share (issue 14 point 3): 41 % of all
 * exchanges on a 32-post bus were per-valve feedback reads and keep-alive
 * writes. Here:
 *
 * - **Feedback in one read.** A valve's feedback read joins a read of the
 *   same kind (FC02 / FC01) that is queued but not yet on the wire; a new read
 *   spans every feedback address of that kind on the module (lowest..highest).
 *   Supervision at rest is one timer for the module that asks every valve in
 *   the same turn, so it is one read per period, not one per valve. A joined
 *   read always goes out after the caller asked, so a confirmation never uses
 *   data from before its own write.
 * - **Keep-alive in one write** where the module takes FC15 (write multiple
 *   coils; Moxa ioLogik E1214, Waveshare, devices.md 5): one write per run of
 *   adjacent valve coils, each coil at its valve's commanded state. The write
 *   carries stillWanted(): every valve of the run must still be commanded as
 *   written and in the same open (its close generation), asked at pick and at
 *   the socket; and the bus drops it whole when an OFF to one of its coils is
 *   queued (protocols/modbus/queue.ts rule 2). So a keep-alive can never
 *   re-assert ON for a coil whose close was decided. A write dropped for a
 *   change is rebuilt at once (a busy module must not starve its watchdog).
 *   Without FC15 every valve keeps its own FC05 keep-alive.
 */
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { repeat, type Repeater } from '../repeat.ts';

export interface RelayModuleOptions {
  unit: ModbusUnit;
  /** The module accepts FC15: one keep-alive write per run of adjacent valve coils; default false. */
  writeMultipleCoils?: boolean;
  /** Feedback of all valves in one read per kind; default true. */
  batchFeedback?: boolean;
}

/** What the module needs of a valve (ModbusValveDriver implements it). */
export interface RelayMember {
  readonly coil: number;
  readonly keepAliveMs: number | undefined;
  readonly feedbackPollMs: number;
  readonly hasFeedback: boolean;
  /** The state a keep-alive would write now, and the open it belongs to. */
  keepAliveState(): { want: boolean; gen: number };
  /** Whether that state is still what the valve commands (asked at pick and at the socket). */
  stillCommanded(want: boolean, gen: number): boolean;
  /** Its own FC05 keep-alive (a module without FC15, or a coil with no neighbour). */
  keepAlive(): Promise<void>;
  /** A module keep-alive write failed (not dropped): the valve decides, as for its own. */
  keepAliveFailed(err: unknown, want: boolean): void;
  superviseFeedback(): Promise<void>;
}

interface PendingRead {
  bits: Promise<boolean[]>;
  address: number;
  sent: boolean;
}

const REBUILD_AFTER_SUPERSEDED = 3;

export class RelayModule {
  readonly unit: ModbusUnit;
  readonly writeMultipleCoils: boolean;
  readonly batchFeedback: boolean;
  private readonly members = new Set<RelayMember>();
  /** Feedback addresses of every valve ever attached, by kind: the span of a batched read. */
  private readonly addresses = { discrete: new Set<number>(), coil: new Set<number>() };
  private readonly pending: { discrete?: PendingRead; coil?: PendingRead } = {};
  private timers: Repeater[] = [];
  private periods = { keepAlive: Infinity, feedback: Infinity };
  /** FC15 keep-alives written and FC15 writes dropped because a valve changed (for tests and the bench). */
  readonly counts = { keepAliveWrites: 0, keepAliveRebuilt: 0, feedbackReads: 0, feedbackJoined: 0 };

  constructor(opts: RelayModuleOptions) {
    this.unit = opts.unit;
    this.writeMultipleCoils = opts.writeMultipleCoils ?? false;
    this.batchFeedback = opts.batchFeedback ?? true;
  }

  /** A valve declares its feedback input before it starts, so every batched read spans it. */
  declareFeedback(kind: 'discrete' | 'coil', address: number): void {
    this.addresses[kind].add(address);
  }

  /** A started valve: the module's timers now keep it alive and supervise it. */
  attach(m: RelayMember): void {
    this.members.add(m);
    this.restartTimers();
  }

  detach(m: RelayMember): void {
    this.members.delete(m);
    this.restartTimers();
  }

  /** One feedback bit; joins a read of that kind not yet on the wire, else starts one over the span. */
  async readBit(kind: 'discrete' | 'coil', address: number): Promise<boolean> {
    if (!this.batchFeedback || !this.addresses[kind].has(address)) return (await this.read(kind, address, 1, () => undefined))[0]!;
    let p = this.pending[kind];
    if (p && !p.sent) this.counts.feedbackJoined++;
    else {
      const all = [...this.addresses[kind]];
      const lo = Math.min(...all);
      const count = Math.max(...all) - lo + 1;
      const fresh: PendingRead = { address: lo, sent: false, bits: Promise.resolve([]) };
      // Handed to the bus a microtask later, so every valve asking in this same turn (the module's
      // supervision tick asks them all at once) joins it: an idle bus would otherwise send the first
      // caller's read at once and leave the others to a second one.
      fresh.bits = Promise.resolve().then(() => this.read(kind, lo, count, () => (fresh.sent = true))).finally(() => {
        if (this.pending[kind] === fresh) this.pending[kind] = undefined;
      });
      this.pending[kind] = p = fresh;
      this.counts.feedbackReads++;
    }
    const bits = await p.bits;
    const bit = bits[address - p.address];
    if (bit === undefined) throw new Error(`feedback read returned no bit for ${address}`);
    return bit;
  }

  private read(kind: 'discrete' | 'coil', address: number, count: number, onSend: () => void): Promise<boolean[]> {
    return kind === 'discrete' ? this.unit.readDiscreteInputs(address, count, { onSend }) : this.unit.readCoils(address, count, { onSend });
  }

  private restartTimers(): void {
    const ka = Math.min(...[...this.members].map((m) => m.keepAliveMs ?? Infinity));
    const fb = Math.min(...[...this.members].filter((m) => m.hasFeedback).map((m) => m.feedbackPollMs));
    if (ka === this.periods.keepAlive && fb === this.periods.feedback) return;
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.periods = { keepAlive: ka, feedback: fb };
    if (Number.isFinite(ka)) this.timers.push(repeat(ka, () => this.keepAliveAll()));
    // Every valve asked in the same turn: their reads join one (readBit).
    if (Number.isFinite(fb)) this.timers.push(repeat(fb, async () => void (await Promise.all([...this.members].filter((m) => m.hasFeedback).map((m) => m.superviseFeedback())))));
  }

  /** One keep-alive round: FC15 per run of adjacent coils where the module takes it, FC05 otherwise. */
  async keepAliveAll(): Promise<void> {
    const alive = [...this.members].filter((m) => m.keepAliveMs !== undefined).sort((a, b) => a.coil - b.coil);
    const runs: RelayMember[][] = [];
    for (const m of alive) {
      const run = runs.at(-1);
      if (this.writeMultipleCoils && run && run.at(-1)!.coil === m.coil - 1) run.push(m);
      else runs.push([m]);
    }
    await Promise.all(runs.map((run) => (run.length === 1 ? run[0]!.keepAlive() : this.writeRun(run))));
  }

  private async writeRun(run: RelayMember[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const states = run.map((m) => m.keepAliveState());
      const values = states.map((s) => s.want);
      const stillWanted = () => run.every((m, i) => m.stillCommanded(states[i]!.want, states[i]!.gen));
      try {
        await this.unit.writeCoils(run[0]!.coil, values, { stillWanted });
        this.counts.keepAliveWrites++;
        return;
      } catch (err) {
        // A valve changed (or a close took over) between the snapshot and the wire: rebuild from now.
        if (isFillgateError(err, 'SUPERSEDED')) {
          this.counts.keepAliveRebuilt++;
          if (attempt < REBUILD_AFTER_SUPERSEDED) continue;
          return;
        }
        run.forEach((m, i) => m.keepAliveFailed(err, states[i]!.want));
        return;
      }
    }
  }
}
