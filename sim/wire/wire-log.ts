/**
 * The simulator's wire log: every request and reply its devices see, in the
 * order the devices saw them, with monotonic time. Valve tests assert on this
 * ordered log (which coil writes reached the relay module, and when), never on
 * the final coil state alone: the order of writes on the bus decides safety
 * (issue 9; the idea follows zwave-js's mock controller, which records every
 * frame the fake stick received and offers assertReceived… helpers).
 *
 * Bounded: a ring of `capacity` entries; `seq` keeps counting, so a reader that
 * falls behind sees the gap (`dropped`) instead of a silently shortened log.
 */

/** What one entry is about. */
export type WireKind =
  /** A Modbus request that reached a unit of the simulator (decoded). */
  | 'request'
  /** The reply the unit sent (value for writes, registers/bits for reads, or an exception). */
  | 'reply'
  /** A request the unit did not answer (no-answer fault, unknown RTU unit). */
  | 'ignored'
  /** Bytes the framer threw away (bad CRC, junk). */
  | 'discarded'
  /** A relay coil changed inside the device (by a write or by its comms watchdog). */
  | 'coil'
  /** Bytes a continuous-output scale or a reader sent. */
  | 'stream'
  /** A setpoint output of a weighing indicator changed (see sim/devices/modbus-scale.ts). */
  | 'setpoint'
  /** Gas at a detector's sensor was set from the control API (`reason` sensor id, `value` %LEL, `on` fault, `count` level). */
  | 'gas'
  /** An emergency cut-off valve closed (`on` true, `source` trip) or was reopened by hand (`on` false, `source` manual). */
  | 'cutoff';

export interface WireEntry {
  /** Position in the log since the simulator started (1, 2, ...). */
  seq: number;
  /** performance.now() of the simulator process (ms): monotonic, comparable within one process. */
  t: number;
  /** performance.timeOrigin + t: comparable across processes on one machine. */
  at: number;
  kind: WireKind;
  /** Bus name (Modbus) or device id (stream). */
  bus?: string;
  unitId?: number;
  /** Device ids served by that unit (a relay module serves several valves). */
  devices?: readonly string[];
  fc?: number;
  address?: number;
  count?: number;
  /** FC05/FC06 value. */
  value?: boolean | number;
  /** FC15/FC16 values, FC01-04 reply data. */
  values?: (boolean | number)[];
  exception?: number;
  /** 'coil': which coil and to what; 'setpoint': which output. */
  coil?: number;
  on?: boolean;
  /** 'coil': 'write' or 'watchdog'; 'ignored'/'discarded': why. */
  source?: string;
  reason?: string;
  /** Raw bytes (hex) of stream entries and discarded bytes. */
  hex?: string;
  /** Connection id on the endpoint (which client). */
  conn?: number;
}

export type WireEntryInput = Omit<WireEntry, 'seq' | 't' | 'at'> & { t?: number };

export interface WireQuery {
  /** Entries with seq > since. */
  since?: number;
  kind?: WireKind | WireKind[];
  bus?: string;
  unitId?: number;
  fc?: number;
  /** Entries about this device id (e.g. "P1.valve"). */
  device?: string;
  limit?: number;
}

export class WireLog {
  private readonly ring: WireEntry[] = [];
  private start = 0;
  private nextSeq = 1;
  /** Entries pushed out of the ring since the start. */
  dropped = 0;
  /** Turn off to save the CPU in a long benchmark that does not read the log. */
  enabled = true;
  /** Told about every entry as it is logged (in-process tests that watch live). */
  onEntry: ((e: WireEntry) => void) | undefined;

  constructor(readonly capacity = 200_000) {}

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  add(input: WireEntryInput): void {
    if (!this.enabled) return;
    const t = input.t ?? performance.now();
    const e = { ...input, seq: this.nextSeq++, t, at: performance.timeOrigin + t } as WireEntry;
    if (this.ring.length < this.capacity) this.ring.push(e);
    else {
      this.ring[this.start] = e;
      this.start = (this.start + 1) % this.capacity;
      this.dropped++;
    }
    this.onEntry?.(e);
  }

  /** Entries in log order, filtered. */
  entries(q: WireQuery = {}): WireEntry[] {
    const kinds = q.kind === undefined ? undefined : new Set(Array.isArray(q.kind) ? q.kind : [q.kind]);
    const out: WireEntry[] = [];
    const n = this.ring.length;
    const limit = q.limit ?? Infinity;
    for (let i = 0; i < n && out.length < limit; i++) {
      const e = this.ring[(this.start + i) % n]!;
      if (q.since !== undefined && e.seq <= q.since) continue;
      if (kinds && !kinds.has(e.kind)) continue;
      if (q.bus !== undefined && e.bus !== q.bus) continue;
      if (q.unitId !== undefined && e.unitId !== q.unitId) continue;
      if (q.fc !== undefined && e.fc !== q.fc) continue;
      if (q.device !== undefined && !(e.devices?.includes(q.device) || e.bus === q.device)) continue;
      out.push(e);
    }
    return out;
  }

  clear(): void {
    this.ring.length = 0;
    this.start = 0;
  }
}
