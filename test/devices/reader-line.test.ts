import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LineReaderDriver } from '../../devices/reader/line-reader.ts';
import type { CodeRule } from '../../devices/codes.ts';
import type { CodeRead } from '../../devices/types.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { createLink } from '../../protocols/link/create.ts';
import { memoryLinkPair } from '../../protocols/link/memory.ts';
import { eventually, flush } from '../fixtures/wait.ts';

const rules: CodeRule[] = [
  { match: 'hex', length: 8, kind: 'badge' },
  { match: 'url', param: 'id', kind: 'cylinder' },
  { match: 'hex', length: [10, 14, 24], kind: 'cylinder' },
];

async function rig(extra: Partial<ConstructorParameters<typeof LineReaderDriver>[0]> = {}) {
  const [device, gateway] = memoryLinkPair({ maxChunk: 4 });
  await device.open();
  const clock = new ManualClock(0);
  const driver = new LineReaderDriver({ id: 'post1.reader', link: gateway, rules, clock, ...extra });
  const reads: CodeRead[] = [];
  const reasons: string[] = [];
  driver.reads.on((r) => reads.push(r));
  driver.discarded.on((d) => reasons.push(d.reason));
  await driver.start();
  const send = async (s: string) => {
    await device.write(Buffer.from(s, 'latin1'));
    await flush(s.length + 3);
  };
  return { device, gateway, clock, driver, reads, reasons, send };
}

test('one code per line (CR, LF, CRLF), classified and normalised, stamped with clock.now()', async () => {
  const r = await rig();
  assert.is(r.driver.getHealth().state, 'online', 'an open link is online (readers are silent when idle)');
  r.clock.advance(42);
  await r.send('04:a2:2b:1c\r\nhttps://qr.example.cn/c?id=E2000017220B0123456789AB\rE2000017220B0123456789AB\n');
  assert.equal(r.reads, [
    { device: 'post1.reader', raw: '04:a2:2b:1c', code: '04A22B1C', kind: 'badge', at: 42 },
    { device: 'post1.reader', raw: 'https://qr.example.cn/c?id=E2000017220B0123456789AB', code: 'E2000017220B0123456789AB', kind: 'cylinder', at: 42 },
  ], 'the plain UID equal to the QR code within the window is one read');
  assert.is(r.driver.duplicatesSuppressed, 1);
  await r.driver.stop();
  assert.is(r.gateway.state, 'closed');
});

test('prefix/suffix (STX/ETX) stripped; ETX-terminated frames of RDM6300-type modules', async () => {
  const r = await rig({ prefix: '\x02', suffix: '\x03' });
  await r.send('\x020A1B2C3D4E\x03\r\n');
  assert.equal(r.reads.map((x) => [x.raw, x.code]), [['0A1B2C3D4E', '0A1B2C3D4E']]);
  await r.driver.stop();
  const e = await rig({ prefix: '\x02', terminators: [0x03] });
  await e.send('\x020A1B2C3D4E\x03\x0211223344\x03');
  assert.equal(e.reads.map((x) => [x.code, x.kind]), [['0A1B2C3D4E', 'cylinder'], ['11223344', 'badge']]);
  await e.driver.stop();
});

test('duplicates within the window are one read; the window slides while the tag stays; a pause makes a new read', async () => {
  const r = await rig({ dedupMs: 1500 });
  await r.send('0A1B2C3D4E\n');
  for (let i = 0; i < 5; i++) {
    r.clock.advance(1000);
    await r.send('0A1B2C3D4E\n'); // tag held in the field: 5 s in all, still one read
  }
  assert.is(r.reads.length, 1);
  r.clock.advance(1500);
  await r.send('0a-1b-2c-3d-4e\n'); // same code, different spelling, after the window
  assert.is(r.reads.length, 2);
  await r.send('11223344\n'); // another code is never suppressed by the first
  assert.is(r.reads.length, 3);
  assert.is(r.driver.duplicatesSuppressed, 5);
  await r.driver.stop();
});

test('unclassifiable, over-long and empty lines are counted with a reason and never emitted', async () => {
  const r = await rig({ maxLineLength: 32 });
  await r.send('hello world\r\n');
  await r.send('0A1B2C\r\n');
  await r.send(`${'F'.repeat(40)}\r\n`);
  await r.send('\r\n\r\n');
  await r.send('0A1B2C3D4E\r\n');
  assert.equal(r.reads.map((x) => x.code), ['0A1B2C3D4E']);
  assert.match(r.reasons[0], /no rule accepts "hello world"/);
  assert.match(r.reasons[1], /6 hex digits/);
  assert.match(r.reasons[2], /longer than 32/);
  assert.ok(r.reasons.includes('empty line'));
  assert.is(r.driver.getHealth().framesDiscarded, r.reasons.length);
  await r.driver.stop();
});

test('link drop: offline at once, a half line before the drop is forgotten, online again on restore', async () => {
  const r = await rig();
  await r.send('0A1B2');
  r.device.drop('adapter unplugged');
  assert.is(r.driver.getHealth().state, 'offline');
  assert.match(r.driver.getHealth().lastError!, /adapter unplugged/);
  r.device.restore();
  assert.is(r.driver.getHealth().state, 'online');
  await r.send('C3D4E\r\n11223344\r\n');
  assert.equal(r.reads.map((x) => x.code), ['11223344'], 'the tail of the old line is not joined to its head');
  assert.equal(r.reasons.length, 1);
  await r.driver.stop();
});

test('bad rules fail at construction, not on the first read', () => {
  const [, gateway] = memoryLinkPair();
  assert.throws(() => new LineReaderDriver({ id: 'x', link: gateway, rules: [{ match: 'regex', pattern: '(', kind: 'badge' }] }), /regular expression/);
});

test('over a real TCP socket: a scanner behind a device server sending CR LF lines in pieces', async () => {
  const sockets = new Set<net.Socket>();
  const wire = Buffer.from('04:A2:2B:1C\r\n04:A2:2B:1C\r\nnot a code\r\nhttps://qr.example.cn/c?id=E2000017220B0123456789AB\r\n');
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    let i = 0;
    const timer = setInterval(() => {
      if (i >= wire.length) return clearInterval(timer);
      s.write(wire.subarray(i, i + 7));
      i += 7;
    }, 5);
    s.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as net.AddressInfo).port;
  const driver = new LineReaderDriver({ id: 'tcp.reader', link: createLink(`tcp://127.0.0.1:${port}`), rules });
  const reads: CodeRead[] = [];
  driver.reads.on((r) => reads.push(r));
  try {
    await driver.start();
    await eventually(() => reads.length === 2, 10_000, 'two reads');
    assert.equal(reads.map((r) => [r.code, r.kind]), [['04A22B1C', 'badge'], ['E2000017220B0123456789AB', 'cylinder']]);
    await eventually(() => driver.getHealth().framesDiscarded === 1, 5000, 'the bad line counted');
    assert.is(driver.duplicatesSuppressed, 1);
  } finally {
    await driver.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => server.close(() => res()));
  }
});

test.run();
