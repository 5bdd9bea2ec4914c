/**
 * Benchmark (issue 13 point 7): cost of hostile bytes per wire decoder. Junk of
 * 4,096 and 32,768 bytes (zeros, random), fed in 64-byte chunks; prints ms and
 * µs per byte. Goals: linear (32 KB ≤ 8 × 4 KB × 2, with a 2 ms floor; best of 5) and under
 * 10 µs per byte (the RTU framer spent ~1,000 µs per zero byte before issue 13).
 * Run: `node --import tsx test/bench/parsers.ts` (or through `npm run bench`).
 */
import { lineDecoder } from '../../protocols/line.ts';
import { mbapFramer, rtuFramer } from '../../protocols/modbus/frames.ts';
import { scaleCodec } from '../../protocols/scale/index.ts';

type Pushable = { push(b: Buffer): unknown };
const codecs: [string, () => Pushable][] = [
  ['rtu request', () => rtuFramer('request')],
  ['rtu response', () => rtuFramer('response')],
  ['mbap', () => mbapFramer()],
  ['line', () => lineDecoder()],
  ['xk3190-a9', () => scaleCodec('xk3190-a9').decoder()],
  ['toledo', () => scaleCodec('toledo').decoder()],
  ['ascii', () => scaleCodec('ascii').decoder()],
];

function junk(kind: 'zeros' | 'random', n: number): Buffer {
  if (kind === 'zeros') return Buffer.alloc(n);
  let a = 13;
  return Buffer.from(Array.from({ length: n }, () => ((a = (a * 1103515245 + 12345) >>> 0) >>> 16) & 0xff));
}

function time(make: () => Pushable, input: Buffer): number {
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const d = make();
    const t = performance.now();
    for (let i = 0; i < input.length; i += 64) d.push(input.subarray(i, i + 64));
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

export interface Row { codec: string; junk: string; ms4k: number; ms32k: number; usPerByte: number; linear: boolean; under10us: boolean }

export async function run(opts: { print?: boolean } = {}): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [codec, make] of codecs) {
    for (const kind of ['zeros', 'random'] as const) {
      const ms4k = time(make, junk(kind, 4096));
      const ms32k = time(make, junk(kind, 32768));
      const usPerByte = (ms32k * 1000) / 32768;
      rows.push({ codec, junk: kind, ms4k, ms32k, usPerByte, linear: ms32k <= 16 * Math.max(ms4k, 2), under10us: usPerByte < 10 });
    }
  }
  if (opts.print !== false) {
    console.log('codec          junk     4 KB ms  32 KB ms  µs/byte  goals (linear, < 10 µs/byte)');
    for (const r of rows) console.log(`${r.codec.padEnd(14)} ${r.junk.padEnd(7)} ${r.ms4k.toFixed(2).padStart(8)} ${r.ms32k.toFixed(2).padStart(9)} ${r.usPerByte.toFixed(3).padStart(8)}  ${r.linear && r.under10us ? 'met' : 'NOT MET'}`);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
