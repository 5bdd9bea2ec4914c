/**
 * Issue 13 point 7: hostile bytes against every wire decoder. Seeded, bounded
 * in time. For each codec it fails on
 *   - an exception that is not a FillgateError with a code,
 *   - a buffer that grows with junk (pending() beyond one frame),
 *   - a cost that is not linear: junk of 8N bytes may take at most a generous
 *     multiple of 8 × the time of N bytes, and no codec may spend more than
 *     100 µs per junk byte (the RTU framer spent ~1 ms per zero byte trying CRCs).
 * Junk: zeros, random bytes, bytes drawn from each protocol's own alphabet
 * (start bytes, terminators, known function codes) and valid frames mutated.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FillgateError } from '../../protocols/errors.ts';
import type { StreamDecoder } from '../../protocols/framing.ts';
import { lineDecoder } from '../../protocols/line.ts';
import {
  decodeRequestPdu, decodeResponsePdu, encodeMbap, encodeRequestPdu, encodeResponsePdu, encodeRtu, mbapFramer, rtuFramer, type Framer,
} from '../../protocols/modbus/frames.ts';
import { scaleCodec, SCALE_FORMATS } from '../../protocols/scale/index.ts';
import { mulberry32 } from '../../sim/physics.ts';

const seeded = mulberry32;

/** A codec under test, reduced to what the fuzzer needs. */
interface Target {
  name: string;
  make(): { push(b: Buffer): unknown[]; pending(): number };
  /** Most bytes it may hold waiting for the rest of one frame. */
  maxPending: number;
  /** Bytes that mean something to it (start bytes, terminators, function codes...). */
  alphabet: number[];
  /** A few valid frames to mix in and mutate. */
  valid: Buffer[];
}

const rtuReq = [encodeRtu(1, encodeRequestPdu({ fc: 3, address: 0, count: 2 })), encodeRtu(7, encodeRequestPdu({ fc: 16, address: 4, values: [1, 2, 3] })), encodeRtu(2, encodeRequestPdu({ fc: 5, address: 1, value: true }))];
const rtuRes = [encodeRtu(1, encodeResponsePdu({ fc: 3, registers: [1, 2] })), encodeRtu(3, encodeResponsePdu({ fc: 6, address: 1, value: 9 })), encodeRtu(2, encodeResponsePdu({ fc: 3, exception: 2 }))];
const fromFramer = (f: () => Framer<unknown>) => () => f();
const fromStream = (d: () => StreamDecoder<unknown>) => () => d();

const targets: Target[] = [
  { name: 'rtu request framer', make: fromFramer(() => rtuFramer('request')), maxPending: 256, alphabet: [0, 1, 2, 3, 4, 5, 6, 15, 16, 0xff], valid: rtuReq },
  { name: 'rtu response framer', make: fromFramer(() => rtuFramer('response')), maxPending: 256, alphabet: [0, 1, 2, 3, 4, 5, 6, 15, 16, 0x83, 0xff], valid: rtuRes },
  { name: 'mbap framer', make: fromFramer(() => mbapFramer()), maxPending: 260, alphabet: [0, 1, 3, 6, 0xfe, 0xff], valid: [encodeMbap(1, 1, encodeRequestPdu({ fc: 3, address: 0, count: 2 }))] },
  { name: 'line decoder', make: fromStream(() => lineDecoder({ maxLength: 64 })), maxPending: 64, alphabet: [0x0d, 0x0a, 0x41, 0x30, 0xe4, 0xb8], valid: [Buffer.from('E2000017A1B20001\r\n')] },
  ...SCALE_FORMATS.flatMap((format) =>
    [{}, { checksum: true }].filter((o) => format === 'toledo' || !('checksum' in o)).map((opts): Target => {
      const codec = scaleCodec(format, opts);
      return {
        name: `scale ${format}${'checksum' in opts ? ' (checksum)' : ''}`,
        make: fromStream(() => codec.decoder()),
        maxPending: 128,
        alphabet: [0x02, 0x82, 0x0d, 0x0a, 0x2b, 0x2d, 0x30, 0x31, 0x39, 0x2e, 0x2c, 0x20, 0x53, 0x54, 0x47, 0x4f, 0x4c, 0x6b, 0x67],
        valid: [codec.encode({ weightKg: 12.34, stable: true, overload: false }), codec.encode({ weightKg: -0.5, stable: false, overload: false })],
      };
    }),
  ),
];

type Junk = (n: number, rnd: () => number, t: Target) => Buffer;
const junks: Record<string, Junk> = {
  zeros: (n) => Buffer.alloc(n),
  random: (n, rnd) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256))),
  alphabet: (n, rnd, t) => Buffer.from(Array.from({ length: n }, () => (rnd() < 0.8 ? t.alphabet[Math.floor(rnd() * t.alphabet.length)]! : Math.floor(rnd() * 256)))),
  'mutated frames': (n, rnd, t) => {
    const parts: Buffer[] = [];
    let size = 0;
    while (size < n) {
      const f = Buffer.from(t.valid[Math.floor(rnd() * t.valid.length)]!);
      const flips = Math.floor(rnd() * 3);
      for (let k = 0; k < flips; k++) f[Math.floor(rnd() * f.length)] = Math.floor(rnd() * 256);
      const cut = rnd() < 0.3 ? f.subarray(0, Math.floor(rnd() * f.length)) : f;
      parts.push(cut);
      size += cut.length;
    }
    return Buffer.concat(parts).subarray(0, n);
  },
};

/** Feed `input` in random chunk sizes; any escaped exception that is not ours fails, as does a growing buffer. */
function feed(t: Target, input: Buffer, rnd: () => number): void {
  const d = t.make();
  let at = 0;
  while (at < input.length) {
    const n = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 8 : 512));
    const chunk = input.subarray(at, at + n);
    at += n;
    try {
      d.push(chunk);
    } catch (err) {
      assert.unreachable(`${t.name}: push threw ${err instanceof FillgateError ? `FillgateError ${err.code}` : String(err)} (decoders report bad bytes as discarded, never throw)`);
    }
    assert.ok(d.pending() <= t.maxPending, `${t.name}: pending() ${d.pending()} > ${t.maxPending} after ${at} bytes`);
  }
}

function timeOf(t: Target, input: Buffer): number {
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const d = t.make();
    const t0 = performance.now();
    for (let i = 0; i < input.length; i += 64) d.push(input.subarray(i, i + 64));
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

test('every decoder survives hostile bytes without an escaped exception or a growing buffer', () => {
  for (const t of targets) {
    for (const [kind, junk] of Object.entries(junks)) {
      for (let seed = 1; seed <= 20; seed++) {
        const rnd = seeded(seed * 7919 + kind.length);
        feed(t, junk(1 + Math.floor(rnd() * 4096), rnd, t), rnd);
      }
    }
  }
});

test('cost is linear in the junk: 8N bytes take at most a generous multiple of N, and under 100 µs per byte', () => {
  const N = 4096;
  for (const t of targets) {
    for (const [kind, junk] of Object.entries(junks)) {
      const rnd = seeded(13);
      const small = junk(N, rnd, t);
      const big = junk(8 * N, rnd, t);
      const tSmall = timeOf(t, small);
      const tBig = timeOf(t, big);
      // 5 ms floor: below it the clock and the scheduler are the noise, not the codec.
      assert.ok(tBig <= 8 * 5 * Math.max(tSmall, 5), `${t.name}, ${kind}: ${N} bytes ${tSmall.toFixed(1)} ms, ${8 * N} bytes ${tBig.toFixed(1)} ms (super-linear)`);
      assert.ok(tSmall <= N * 0.1, `${t.name}, ${kind}: ${N} bytes took ${tSmall.toFixed(1)} ms (> 100 µs per byte)`);
    }
  }
});

test('the RTU framer discards a frame with an unknown function code, even with a good CRC, and counts it', () => {
  for (const side of ['request', 'response'] as const) {
    const f = rtuFramer(side);
    const odd = encodeRtu(1, Buffer.from([0x2b, 0x0e, 0x01, 0x00])); // FC43 read device id: CRC valid, not modelled
    const good = side === 'request' ? rtuReq[0]! : rtuRes[0]!;
    const ev = f.push(Buffer.concat([odd, good]));
    const frames = ev.filter((e) => e.kind === 'frame');
    assert.is(frames.length, 1, `${side}: only the known frame`);
    assert.equal(frames[0]!.bytes, good);
    const discarded = ev.flatMap((e) => (e.kind === 'discarded' ? [e] : []));
    assert.is(discarded.reduce((n, e) => n + e.bytes.length, 0), odd.length, `${side}: every byte of the odd frame counted as discarded`);
    assert.ok(discarded.some((e) => /unknown function code 43/.test(e.reason)), discarded.map((e) => e.reason).join('; '));
    assert.is(f.pending(), 0);
  }
});

test('Modbus PDU decoders throw only BAD_FRAME FillgateErrors, whatever the bytes', () => {
  const rnd = seeded(99);
  const check = (what: string, fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof FillgateError && err.code === 'BAD_FRAME', `${what}: threw ${String(err)}`);
    }
  };
  // The probe's case: a write response cut short.
  for (const pdu of [[5], [6, 0], [15, 0, 1], [16, 0, 1, 0], [3], [3, 4, 0, 1], [1, 2, 0]]) {
    assert.throws(() => decodeResponsePdu(Buffer.from(pdu)), (e: unknown) => e instanceof FillgateError && e.code === 'BAD_FRAME', `response ${pdu.join(' ')}`);
  }
  for (let i = 0; i < 20_000; i++) {
    const len = Math.floor(rnd() * 12);
    const pdu = Buffer.from(Array.from({ length: len }, (_, k) => (k === 0 && rnd() < 0.7 ? [1, 2, 3, 4, 5, 6, 15, 16, 0x83][Math.floor(rnd() * 9)]! : Math.floor(rnd() * 256))));
    check(`request ${pdu.toString('hex')}`, () => decodeRequestPdu(pdu));
    check(`response ${pdu.toString('hex')}`, () => decodeResponsePdu(pdu, Math.floor(rnd() * 20)));
  }
});

test.run();
