import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  crc16, crcOk, withCrc, encodeRtu, encodeMbap, encodeRequestPdu, decodeRequestPdu, encodeResponsePdu,
  decodeResponsePdu, rtuFramer, mbapFramer, type ModbusRequest,
} from '../../protocols/modbus/frames.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('CRC-16 matches published frames', () => {
  // Serial Line v1.02 style example: read 1 holding register at 0 from unit 1 → 84 0A
  assert.equal(encodeRtu(1, hex('03 0000 0001')), hex('01 03 0000 0001 840A'));
  // LCTech relay "FF 05 00 00 FF 00 99 E4" (devices.md 5)
  assert.equal(withCrc(hex('FF 05 0000 FF00')), hex('FF 05 0000 FF00 99E4'));
  assert.ok(crcOk(hex('FF 05 0000 FF00 99E4')));
  assert.not.ok(crcOk(hex('FF 05 0000 FF00 99E5')));
  assert.is(crc16(Buffer.alloc(0)), 0xffff);
});

test('request PDUs round trip', () => {
  const reqs: ModbusRequest[] = [
    { fc: 3, address: 4, count: 2 },
    { fc: 4, address: 0, count: 10 },
    { fc: 1, address: 0, count: 8 },
    { fc: 2, address: 3, count: 5 },
    { fc: 5, address: 2, value: true },
    { fc: 5, address: 2, value: false },
    { fc: 6, address: 24, value: 2 },
    { fc: 15, address: 0, values: [true, false, true, true, false, false, false, false, true] },
    { fc: 16, address: 2, values: [0, 1234, 0xffff] },
  ];
  for (const r of reqs) assert.equal(decodeRequestPdu(encodeRequestPdu(r)), r);
});

test('malformed requests name the exception a slave answers', () => {
  assert.throws(() => decodeRequestPdu(hex('03 0000 0000')), (e: any) => e.code === 'BAD_FRAME' && e.context.exception === 3);
  assert.throws(() => decodeRequestPdu(hex('05 0000 1234')), (e: any) => e.context.exception === 3);
  assert.throws(() => decodeRequestPdu(hex('10 0000 0002 03 0001 00')), (e: any) => e.context.exception === 3);
  const u = decodeRequestPdu(hex('2B 0E 01 00'));
  assert.ok('unsupported' in u && u.fc === 0x2b);
});

test('response PDUs round trip, exceptions included', () => {
  assert.equal(decodeResponsePdu(encodeResponsePdu({ fc: 3, registers: [1, 2, 65535] })), { fc: 3, registers: [1, 2, 65535] });
  assert.equal(decodeResponsePdu(encodeResponsePdu({ fc: 2, bits: [true, false, true] }), 3), { fc: 2, bits: [true, false, true] });
  assert.equal(encodeResponsePdu({ fc: 3, exception: 2 }), hex('83 02'));
  assert.equal(decodeResponsePdu(hex('83 02')), { fc: 3, exception: 2 });
  assert.equal(decodeResponsePdu(encodeResponsePdu({ fc: 5, address: 1, value: true })), { fc: 5, address: 1, value: true });
  assert.equal(decodeResponsePdu(encodeResponsePdu({ fc: 16, address: 1, count: 2 })), { fc: 16, address: 1, count: 2 });
});

test('RTU framer: split at every byte, glued frames, garbage and bad CRC are discarded with a reason', () => {
  const a = encodeRtu(1, hex('03 0004 0002'));
  const b = encodeRtu(2, encodeRequestPdu({ fc: 16, address: 0, values: [7, 8] }));
  const bad = Buffer.from(a);
  bad[bad.length - 1] ^= 0xff;
  const stream = Buffer.concat([hex('00 ff'), a, bad, b]);
  for (let split = 0; split <= stream.length; split++) {
    const f = rtuFramer('request');
    const ev = [...f.push(stream.subarray(0, split)), ...f.push(stream.subarray(split))];
    const frames = ev.filter((e) => e.kind === 'frame');
    assert.is(frames.length, 2, `split ${split}`);
    const junk = ev.filter((e) => e.kind === 'discarded').reduce((n, e) => n + e.bytes.length, 0);
    assert.is(junk, 2 + bad.length, `split ${split}`);
    assert.is(f.pending(), 0);
  }
});

test('RTU framer: an incomplete frame is flushed as discarded', () => {
  const f = rtuFramer('response');
  assert.equal(f.push(hex('01 03 04 00')), []);
  assert.is(f.pending(), 4);
  const ev = f.flush();
  assert.is(ev.length, 1);
  assert.is(ev[0]!.kind, 'discarded');
  const resp = encodeRtu(1, encodeResponsePdu({ fc: 3, registers: [1, 2] }));
  const got = f.push(resp);
  assert.is(got.length, 1);
  assert.is(got[0]!.kind, 'frame');
});

test('MBAP framer: frames by length, bad header discarded', () => {
  const f = mbapFramer();
  const a = encodeMbap(7, 1, hex('03 0000 0002'));
  const ev = f.push(Buffer.concat([a, a.subarray(0, 3)]));
  assert.is(ev.length, 1);
  const fr = ev[0]!;
  assert.ok(fr.kind === 'frame' && fr.frame.transactionId === 7 && fr.frame.unitId === 1);
  assert.is(f.push(a.subarray(3)).length, 1);
  const bad = f.push(hex('0001 0005 0006 01 03 00 00'));
  assert.is(bad[0]!.kind, 'discarded');
});

test.run();
