/**
 * `fillgate serial sniff`: frames with direction, hex and meaning, discards
 * with their reason. Over memory links (exact bytes, split into small chunks)
 * and over TCP against the simulator's A9 scale and reader.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sniffLink, describeModbus, type SniffLine } from '../../gateway/diag/sniff.ts';
import { formatSniffLine } from '../../gateway/diag/format.ts';
import { createLink } from '../../protocols/link/create.ts';
import { memoryLinkPair } from '../../protocols/link/memory.ts';
import { encodeRequestPdu, encodeResponsePdu, encodeRtu } from '../../protocols/modbus/frames.ts';
import { encodeA9 } from '../../protocols/scale/xk3190-a9.ts';
import { startDiagSim } from './diag-helpers.ts';
import { eventually } from '../fixtures/wait.ts';

const data = (lines: SniffLine[]) => lines.filter((l) => l.dir !== 'link');

test('A9 frames split into 3-byte chunks decode; garbage between them is shown with its reason', async () => {
  const [ours, device] = memoryLinkPair({ maxChunk: 3 });
  const sniffer = sniffLink(ours, { format: 'xk3190-a9' });
  const lines: SniffLine[] = [];
  sniffer.lines.on((l) => lines.push(l));
  await sniffer.start();
  await device.open();
  await device.write(Buffer.concat([encodeA9(12.34, 2), Buffer.from('zzz'), encodeA9(-0.5, 2)]));
  await eventually(() => data(lines).length >= 3, 5000, 'three lines');
  const got = data(lines);
  assert.equal(got.map((l) => [l.dir, l.kind]), [['rx', 'frame'], ['rx', 'discarded'], ['rx', 'frame']]);
  assert.is(got[0]!.meaning, '12.34 kg gross');
  assert.equal(got[0]!.bytes, encodeA9(12.34, 2));
  assert.is(got[1]!.meaning, 'discarded: bytes outside a frame (no start byte)');
  assert.is(got[1]!.bytes.toString(), 'zzz');
  assert.is(got[2]!.meaning, '-0.5 kg gross');
  assert.ok(got.every((l, i) => i === 0 || l.at >= got[i - 1]!.at));
  assert.match(formatSniffLine(got[0]!), /^\s+\d+\.\d{3}s rx  02 2b 30 30 31 32 33 34 32 .* 03\s+12\.34 kg gross$/);
  assert.ok(lines.some((l) => l.dir === 'link' && l.meaning === 'open'));
  await sniffer.stop();
  await device.close();
});

test('Modbus RTU: our poll is shown as a tx request, the reply as rx; a half frame is flushed when the line goes quiet', async () => {
  const [ours, device] = memoryLinkPair();
  const sniffer = sniffLink(ours, { format: 'modbus-rtu', quietMs: 30 });
  const lines: SniffLine[] = [];
  sniffer.lines.on((l) => lines.push(l));
  await sniffer.start();
  await device.open();
  const poll = encodeRtu(1, encodeRequestPdu({ fc: 3, address: 4, count: 2 }));
  await sniffer.send(poll);
  const reply = encodeRtu(1, encodeResponsePdu({ fc: 3, registers: [0, 1234] }));
  await device.write(reply);
  await device.write(encodeRtu(1, encodeResponsePdu({ fc: 3, exception: 2 })));
  await device.write(reply.subarray(0, 4));
  await eventually(() => data(lines).length >= 4, 5000, 'four lines');
  const got = data(lines);
  assert.equal(got[0], { at: got[0]!.at, dir: 'tx', kind: 'frame', bytes: poll, meaning: 'unit 1 FC03 read holding 4+2' });
  assert.is(got[1]!.dir, 'rx');
  assert.is(got[1]!.meaning, 'unit 1 FC03 holding [0x0000 0x04D2]');
  assert.is(got[2]!.meaning, 'unit 1 FC03 exception 2 (illegal data address)');
  assert.is(got[3]!.kind, 'discarded');
  assert.is(got[3]!.meaning, 'discarded: incomplete frame, line went quiet');
  assert.equal(got[3]!.bytes, reply.subarray(0, 4));
  await sniffer.stop();
  await device.close();
});

test('raw shows chunks as printable text; unknown formats are refused before anything is opened', async () => {
  const [ours, device] = memoryLinkPair();
  const sniffer = sniffLink(ours);
  const lines: SniffLine[] = [];
  sniffer.lines.on((l) => lines.push(l));
  await sniffer.start();
  await device.open();
  await device.write(Buffer.from('\x02AB\r\n'));
  await eventually(() => data(lines).length >= 1, 5000, 'a chunk');
  assert.is(data(lines)[0]!.kind, 'chunk');
  assert.is(data(lines)[0]!.meaning, '<02>AB<0d><0a>');
  await sniffer.stop();
  const [other] = memoryLinkPair();
  assert.throws(() => sniffLink(other, { format: 'nope' as never }), /unknown format "nope"/);
  assert.is(other.state, 'closed');
  assert.is(describeModbus(3, Buffer.from([5, 0, 1, 0xff, 0]), 'request'), 'unit 3 FC05 write coil 1 = ON');
});

test('over TCP against the simulator: A9 frames decode, injected garbage shows as discards, reader lines arrive', async () => {
  const sim = await startDiagSim();
  const ep = sim.deviceEndpoints();
  const scale = sniffLink(createLink(ep['P2.scale']!.url), { format: 'xk3190-a9' });
  const reader = sniffLink(createLink(ep['P2.reader']!.url), { format: 'lines' });
  const lines: SniffLine[] = [];
  const readerLines: SniffLine[] = [];
  scale.lines.on((l) => lines.push(l));
  reader.lines.on((l) => readerLines.push(l));
  try {
    await scale.start();
    await reader.start();
    await eventually(() => lines.filter((l) => l.kind === 'frame').length >= 3, 8000, 'A9 frames');
    assert.ok(lines.filter((l) => l.kind === 'frame').every((l) => l.meaning === '0 kg gross' && l.bytes.length === 12));
    assert.is(lines.filter((l) => l.kind === 'discarded').length, 0);
    sim.setFault({ device: 'P2.scale', kind: 'garbage', bytes: 4 });
    await eventually(() => lines.some((l) => l.kind === 'discarded'), 8000, 'a discard');
    const bad = lines.find((l) => l.kind === 'discarded')!;
    assert.is(bad.meaning, 'discarded: bytes outside a frame (no start byte)');
    assert.is(bad.bytes.length, 4);
    await eventually(() => sim.scan('P2', 'E2000017A1B20004'), 8000, 'reader client connected');
    await eventually(() => readerLines.some((l) => l.kind === 'frame'), 8000, 'a reader line');
    assert.is(readerLines.find((l) => l.kind === 'frame')!.meaning, '"E2000017A1B20004"');
  } finally {
    await scale.stop();
    await reader.stop();
    await sim.close();
  }
});

test.run();
