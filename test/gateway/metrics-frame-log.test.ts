/**
 * Frame hex dumps (issue 6): rx/tx bytes are logged under link.<device> only at
 * trace, and at info the hex string is never even built.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { Writable } from 'node:stream';
import { createLogFactory } from '../../gateway/log.ts';
import { frameLogger } from '../../gateway/runtime/devices.ts';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import { createLink } from '../../protocols/link/create.ts';
import { freePort, waitFor } from '../protocols/link-helpers.ts';
import { FakeUnits, startTcpSlave } from '../protocols/modbus-helpers.ts';

/** A log factory writing JSON lines into an array. */
function capture(levels: Record<string, 'trace' | 'info'>) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logs: createLogFactory({ level: 'info', levels, destination }), lines };
}

/** A buffer that counts how often anything turns it into text. */
function spiedBuffer(bytes: number[]): { buf: Buffer; calls: () => number } {
  const buf = Buffer.from(bytes);
  let n = 0;
  const orig = buf.toString.bind(buf);
  buf.toString = ((...args: Parameters<Buffer['toString']>) => {
    n++;
    return orig(...args);
  }) as Buffer['toString'];
  return { buf, calls: () => n };
}

test('at info nothing is built or written; at trace the dump has direction and hex', async () => {
  const { logs, lines } = capture({ 'link.P1.scale': 'trace' });
  const quiet = spiedBuffer([1, 3, 0, 0, 0, 2]);
  frameLogger(logs('link.P2.scale'))('rx', quiet.buf);
  assert.is(quiet.calls(), 0, 'no hex built at info');
  const loud = spiedBuffer([0x02, 0x2b, 0x30]);
  frameLogger(logs('link.P1.scale'))('tx', loud.buf);
  assert.is(loud.calls(), 1);
  await waitFor(() => lines.length === 1, 'one line');
  assert.equal({ ns: lines[0].ns, dir: lines[0].dir, hex: lines[0].hex, len: lines[0].len, level: lines[0].level }, { ns: 'link.P1.scale', dir: 'tx', hex: '022b30', len: 3, level: 10 });
});

test('a Modbus TCP bus dumps the MBAP frames on the wire at trace, nothing at info', async () => {
  const port = await freePort();
  const slave = await startTcpSlave(new FakeUnits([1]), port);
  const { logs, lines } = capture({ 'link.relays': 'trace' });
  const loud = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`, { onFrame: frameLogger(logs('link.relays')) });
  const quiet = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`, { onFrame: frameLogger(logs('link.scales')) });
  try {
    await loud.open();
    await quiet.open();
    await loud.unit(1).readHoldingRegisters(0, 2);
    await quiet.unit(1).readHoldingRegisters(0, 2);
    await waitFor(() => lines.some((l) => l.dir === 'rx'), 'rx line', 5000);
    assert.ok(lines.every((l) => l.ns === 'link.relays'), 'the info-level bus wrote nothing');
    const tx = lines.find((l) => l.dir === 'tx')!;
    // MBAP: transaction id, protocol 0000, length 0006, unit 01, FC03 0000 0002 (Modbus TCP, no CRC).
    assert.match(String(tx.hex), /^[0-9a-f]{4}00000006010300000002$/);
    const rx = lines.find((l) => l.dir === 'rx')!;
    assert.match(String(rx.hex), /^[0-9a-f]{4}00000007010304[0-9a-f]{8}$/);
  } finally {
    await loud.close();
    await quiet.close();
    await slave.close();
  }
});

test('a stream link dumps received bytes and writes at trace', async () => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.write(Buffer.from('\x02+023960015\x03', 'latin1'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const { logs, lines } = capture({ link: 'trace' });
  const link = createLink(`tcp://127.0.0.1:${port}`, { onFrame: frameLogger(logs('link.P2.scale')) });
  try {
    await link.open();
    await waitFor(() => lines.some((l) => l.dir === 'rx'), 'rx line', 5000);
    assert.is(lines.find((l) => l.dir === 'rx')!.hex, Buffer.from('\x02+023960015\x03', 'latin1').toString('hex'));
    await link.write(Buffer.from([0x41, 0x42]));
    await waitFor(() => lines.some((l) => l.dir === 'tx'), 'tx line');
    assert.is(lines.find((l) => l.dir === 'tx')!.hex, '4142');
  } finally {
    await link.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

test.run();
