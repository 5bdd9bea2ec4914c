/**
 * An ID reader or scanner in "keyboard" mode: each read is one line,
 * prefix + code + suffix (default CR LF), as domain.md 3 and devices.md 4
 * describe for serial scanners and Wiegand converters.
 */
import { type FaultBook, garbageBytes } from '../faults.ts';
import type { Endpoint } from '../wire/endpoint.ts';
import type { ReaderSpec } from '../station.ts';
import type { WireLog } from '../wire/wire-log.ts';

export class SimReader {
  linesSent = 0;
  linesLost = 0;
  private readonly pending = new Set<NodeJS.Timeout>();

  constructor(
    readonly id: string,
    private readonly spec: ReaderSpec,
    readonly endpoint: Endpoint,
    private readonly faults: FaultBook,
    private readonly wire?: WireLog,
  ) {}

  /** The bytes one read produces (with faults applied), or undefined when the read is lost. */
  line(code: string): Buffer | undefined {
    if (this.faults.get(this.id, 'no-answer')) return undefined;
    let text = code;
    if (this.faults.get(this.id, 'corrupt')) {
      // A DEL byte inside the code: never valid in a code, so the reader driver must refuse the line.
      const mid = Math.floor(text.length / 2);
      text = `${text.slice(0, mid)}\x7f${text.slice(mid + 1)}`;
    }
    let bytes = Buffer.from(`${this.spec.prefix}${text}${this.spec.suffix}`, 'latin1');
    const garbage = this.faults.get(this.id, 'garbage');
    if (garbage) bytes = Buffer.concat([garbageBytes(garbage.bytes), bytes]);
    return bytes;
  }

  /** Sends one read; returns false when nobody could receive it (no client, link down, no-answer fault). */
  send(code: string): boolean {
    const bytes = this.line(code);
    if (!bytes || this.endpoint.down || this.endpoint.peerCount() === 0) {
      this.linesLost++;
      return false;
    }
    const late = this.faults.get(this.id, 'late')?.ms ?? 0;
    const go = () => {
      this.linesSent++;
      if (this.wire?.enabled) this.wire.add({ kind: 'stream', bus: this.id, devices: [this.id], hex: bytes.toString('hex') });
      this.endpoint.broadcast(bytes);
    };
    if (late <= 0) go();
    else {
      const t = setTimeout(() => {
        this.pending.delete(t);
        go();
      }, late);
      this.pending.add(t);
    }
    return true;
  }

  stop(): void {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }
}
