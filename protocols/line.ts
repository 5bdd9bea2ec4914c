/**
 * Line framer for ASCII devices: scale lines (`ST,GS,+0012.34kg`), code readers
 * and scanners (domain.md 3: "one code per line (CR/LF)"; devices.md 4: suffix
 * CR, LF or CR LF, programmable).
 *
 * A line ends at any terminator byte (default CR or LF). CR followed by LF is
 * one terminator even when the LF arrives in the next chunk, so CRLF devices do
 * not produce empty lines; that LF is not returned again (the frame's `bytes`
 * end with the CR, already returned). Other empty lines are returned as discarded
 * ('empty line'). A line longer than `maxLength` is discarded up to and
 * including its terminator: its tail is never emitted as if it were a line.
 */
import type { Framed, StreamDecoder } from './framing.ts';

const CR = 0x0d;
const LF = 0x0a;

export interface LineOptions {
  /** Longest line accepted, terminator excluded (bytes). Default 256. */
  maxLength?: number;
  /** Bytes that end a line. Default [CR, LF]. E.g. [0x03] for readers that end with ETX. */
  terminators?: number[];
  /** How line bytes become text. Default 'utf8' (QR codes may hold UTF-8); 'latin1' keeps every byte. */
  encoding?: BufferEncoding;
}

export function lineDecoder(opts: LineOptions = {}): StreamDecoder<string> {
  const maxLength = opts.maxLength ?? 256;
  const terminators = new Set(opts.terminators ?? [CR, LF]);
  const encoding = opts.encoding ?? 'utf8';
  let parts: Buffer[] = [];
  let size = 0;
  /** Inside an over-long line: drop until the next terminator. */
  let skipping = false;
  /** The previous byte was a CR terminator: a following LF belongs to it. */
  let afterCr = false;

  function take(): Buffer {
    const b = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    parts = [];
    size = 0;
    return b;
  }

  function push(chunk: Buffer): Framed<string>[] {
    const out: Framed<string>[] = [];
    let from = 0;
    const keep = (to: number) => {
      if (to > from) {
        parts.push(Buffer.from(chunk.subarray(from, to)));
        size += to - from;
      }
    };
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (afterCr && b === LF) {
        afterCr = false;
        from = i + 1; // the LF of a CR LF pair
        continue;
      }
      afterCr = false;
      if (terminators.has(b)) {
        keep(i + 1);
        const bytes = take();
        const text = bytes.subarray(0, bytes.length - 1);
        if (skipping) out.push({ kind: 'discarded', bytes, reason: `rest of a line longer than ${maxLength} bytes` });
        else if (text.length === 0) out.push({ kind: 'discarded', bytes, reason: 'empty line' });
        else out.push({ kind: 'frame', frame: text.toString(encoding), bytes });
        skipping = false;
        afterCr = b === CR;
        from = i + 1;
        continue;
      }
      if (size + (i + 1 - from) > maxLength) {
        // Report the over-long run now (bounded memory), then drop the rest up to the terminator.
        keep(i + 1);
        const reason = skipping ? `rest of a line longer than ${maxLength} bytes` : `line longer than ${maxLength} bytes`;
        out.push({ kind: 'discarded', bytes: take(), reason });
        skipping = true;
        from = i + 1;
      }
    }
    keep(chunk.length);
    return out;
  }

  function reset() {
    parts = [];
    size = 0;
    skipping = false;
    afterCr = false;
  }

  return { push, reset, pending: () => size };
}
