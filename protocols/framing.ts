/**
 * Stream framing shared by the scale and reader codecs.
 *
 * A byte stream (serial port, TCP device server) splits and glues frames
 * wherever the OS likes. A decoder buffers what it is given and returns, in
 * wire order, every complete frame and every run of bytes it had to throw away
 * with the reason. Garbage is never silently dropped and never becomes a weight
 * (engineering.md example 1: zwave-js ZWaveSerialFrame, herdsman unpi).
 */

export type Framed<T> =
  | { kind: 'frame'; frame: T; bytes: Buffer }
  | { kind: 'discarded'; bytes: Buffer; reason: string };

export interface StreamDecoder<T> {
  /** Feed the next chunk; returns what it completed, in order. Never throws on bad input. */
  push(chunk: Buffer): Framed<T>[];
  /** Forget buffered bytes, e.g. after the link dropped (a half frame never joins the next connection's bytes). */
  reset(): void;
  /** Bytes held waiting for the rest of a frame: bounded by one frame, whatever arrives. */
  pending(): number;
}

/** Hex dump for logs and error reasons: `02 2b 30`. */
export function hex(bytes: Buffer, max = 48): string {
  const shown = bytes.subarray(0, max).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return bytes.length > max ? `${shown} …(+${bytes.length - max})` : shown;
}

/** Printable form of a frame for logs: control characters as <02>, <0d>. */
export function printable(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `<${b.toString(16).padStart(2, '0')}>`;
  return s;
}

export interface FixedFrameSpec<T> {
  /** Is this byte a frame start (e.g. STX, maybe with the parity bit masked)? */
  isStart(byte: number): boolean;
  /** Total frame length in bytes, start byte included. */
  length: number;
  /**
   * Check one byte as soon as it arrives (index within the frame, > 0), so a
   * truncated frame followed by a new one is given up at once rather than
   * when `length` bytes have gathered. Returns a reason when the byte cannot be there.
   */
  checkByte?(byte: number, index: number): string | undefined;
  /** Parse a complete candidate frame: the decoded value, or a reason it is bad. */
  parse(frame: Buffer): { ok: T } | { error: string };
}

/** Junk between frames is reported in runs of at most this many bytes. */
const MAX_JUNK = 64;

/**
 * Decoder for fixed-length frames that begin with a start byte (XK3190-A9,
 * Toledo continuous). On a bad frame it resynchronises on the next start byte
 * after the bad frame's own start, so a good frame hidden behind a truncated
 * one is still found.
 */
export function fixedFrameDecoder<T>(spec: FixedFrameSpec<T>): StreamDecoder<T> {
  let buf = Buffer.alloc(0);

  function nextStart(from: number): number {
    for (let i = from; i < buf.length; i++) if (spec.isStart(buf[i])) return i;
    return -1;
  }

  function push(chunk: Buffer): Framed<T>[] {
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
    const out: Framed<T>[] = [];
    const discard = (n: number, reason: string) => {
      out.push({ kind: 'discarded', bytes: Buffer.from(buf.subarray(0, n)), reason });
      buf = buf.subarray(n);
    };
    for (;;) {
      const start = nextStart(0);
      if (start !== 0) {
        // Hold junk until the next start byte shows where it ends, but not without bound.
        if (start > 0) discard(start, 'bytes outside a frame (no start byte)');
        else if (buf.length >= MAX_JUNK) discard(buf.length, 'bytes outside a frame (no start byte)');
        if (start < 0) break;
        continue;
      }
      // buf[0] is a start byte: check what has arrived of the frame so far.
      let bad: string | undefined;
      const have = Math.min(buf.length, spec.length);
      for (let i = 1; i < have && !bad && spec.checkByte; i++) {
        const why = spec.checkByte(buf[i], i);
        if (why) bad = `${why} at byte ${i + 1}`;
      }
      if (!bad && buf.length < spec.length) break; // wait for the rest
      if (!bad) {
        const frame = Buffer.from(buf.subarray(0, spec.length));
        const parsed = spec.parse(frame);
        if ('ok' in parsed) {
          out.push({ kind: 'frame', frame: parsed.ok, bytes: frame });
          buf = buf.subarray(spec.length);
          continue;
        }
        bad = parsed.error;
      }
      const resync = nextStart(1);
      discard(resync < 0 ? Math.min(buf.length, spec.length) : Math.min(resync, spec.length), bad);
    }
    if (buf.length > 0) buf = Buffer.from(buf); // do not pin the caller's chunk
    return out;
  }

  return { push, reset: () => (buf = Buffer.alloc(0)), pending: () => buf.length };
}
