import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeValue,
  describeRegisters,
  encodeValue,
  registerCount,
  type RegisterFormat,
  type RegisterType,
} from '../../protocols/modbus/registers.ts';
import { isFillgateError } from '../../protocols/errors.ts';

test('registerCount: 16-bit types take one register, 32-bit types two', () => {
  const counts: Record<RegisterType, number> = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2 };
  for (const [type, n] of Object.entries(counts)) assert.is(registerCount(type as RegisterType), n, type);
});

test('known wire images: int32 -2 big and little word order', () => {
  assert.equal(encodeValue(-2, { type: 'int32' }), [0xffff, 0xfffe]);
  assert.equal(encodeValue(-2, { type: 'int32', wordOrder: 'little' }), [0xfffe, 0xffff]);
  assert.equal(encodeValue(0x12345678, { type: 'uint32' }), [0x1234, 0x5678]);
  assert.equal(encodeValue(0x12345678, { type: 'uint32', byteSwap: true }), [0x3412, 0x7856]);
  assert.equal(encodeValue(0x12345678, { type: 'uint32', wordOrder: 'little', byteSwap: true }), [0x7856, 0x3412]);
  assert.equal(encodeValue(-1, { type: 'int16' }), [0xffff]);
  assert.is(decodeValue([0x8000], { type: 'int16' }), -32768);
  assert.is(decodeValue([0x8000], { type: 'uint16' }), 32768);
});

test('known wire image: float32 1.0 is 0x3F80 0x0000 (IEEE 754), word-swapped 0x0000 0x3F80', () => {
  assert.equal(encodeValue(1, { type: 'float32' }), [0x3f80, 0x0000]);
  assert.equal(encodeValue(1, { type: 'float32', wordOrder: 'little' }), [0x0000, 0x3f80]);
  assert.is(decodeValue([0x0000, 0x3f80], { type: 'float32', wordOrder: 'little' }), 1);
  // Decoding in the wrong word order gives a different number: the option matters.
  assert.is.not(decodeValue([0x0000, 0x3f80], { type: 'float32' }), 1);
});

test('round trips for every type, word order and byte swap', () => {
  const samples: Record<RegisterType, number[]> = {
    int16: [0, 1, -1, 32767, -32768, 1234],
    uint16: [0, 1, 65535, 40000],
    int32: [0, 1, -1, -123456, 2147483647, -2147483648, 70000],
    uint32: [0, 1, 4294967295, 3000000000, 65536],
    float32: [0, 1, -1, 12.5, -0.25, 35.5, 1e6, -118.75],
  };
  for (const [type, values] of Object.entries(samples) as [RegisterType, number[]][]) {
    for (const wordOrder of ['big', 'little'] as const) {
      for (const byteSwap of [false, true]) {
        const fmt: RegisterFormat = { type, wordOrder, byteSwap };
        for (const v of values) {
          const regs = encodeValue(v, fmt);
          assert.is(regs.length, registerCount(type));
          for (const r of regs) assert.ok(r >= 0 && r <= 0xffff, `${r} is a word`);
          assert.is(decodeValue(regs, fmt), v, `${type} ${wordOrder} ${byteSwap} ${v}`);
        }
      }
    }
  }
});

test('float32 round trip is exact only to single precision', () => {
  const regs = encodeValue(12.345, { type: 'float32' });
  const back = decodeValue(regs, { type: 'float32' });
  assert.ok(Math.abs(back - 12.345) < 1e-5);
});

test('values a type cannot hold are rejected with BAD_PAYLOAD', () => {
  const bad: [number, RegisterType][] = [
    [32768, 'int16'],
    [-1, 'uint16'],
    [1.5, 'int32'],
    [2 ** 32, 'uint32'],
    [NaN, 'float32'],
  ];
  for (const [v, type] of bad) {
    try {
      encodeValue(v, { type });
      assert.unreachable(`${v} as ${type}`);
    } catch (err) {
      assert.ok(isFillgateError(err, 'BAD_PAYLOAD'), `${v} as ${type}: ${String(err)}`);
    }
  }
});

test('decoding too few registers or non-words is rejected with BAD_PAYLOAD', () => {
  assert.throws(() => decodeValue([1], { type: 'int32' }), (e: unknown) => isFillgateError(e, 'BAD_PAYLOAD'));
  assert.throws(() => decodeValue([70000], { type: 'uint16' }), (e: unknown) => isFillgateError(e, 'BAD_PAYLOAD'));
  assert.throws(() => registerCount('int64' as RegisterType), (e: unknown) => isFillgateError(e, 'BAD_CONFIG'));
});

test('describeRegisters prints hex words', () => {
  assert.is(describeRegisters([0xffff, 0x1]), '[0xFFFF 0x0001]');
});

test.run();
