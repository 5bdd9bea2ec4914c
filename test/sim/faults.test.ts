import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { crcOk, decodeResponsePdu, encodeRequestPdu, encodeRtu, rtuFramer } from '../../protocols/modbus/frames.ts';
import { decodeValue } from '../../protocols/modbus/registers.ts';
import { scaleCodec } from '../../protocols/scale/index.ts';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { ByteSink, closeClient, eventually, modbusClient, portOf, testStation, type ModbusClient } from './helpers.ts';

let sim: Simulator;
const clients: ModbusClient[] = [];
const sinks: ByteSink[] = [];
const client = async (device: string) => {
  const c = await modbusClient(sim.endpoints()[device]!);
  clients.push(c);
  return c;
};
const sink = async (device: string) => {
  const s = await ByteSink.connect(portOf(sim.endpoints()[device]!));
  sinks.push(s);
  return s;
};
const gross = async (c: ModbusClient) => decodeValue((await c.readHoldingRegisters(4, 2)).data, { type: 'int32' });

/** One raw RTU exchange with the check scale (unit 5, RTU over TCP): returns every byte that came back. */
async function rawRtu(waitMs = 300): Promise<Buffer> {
  const s = await sink('check.scale');
  s.write(encodeRtu(5, encodeRequestPdu({ fc: 4, address: 1, count: 2 })));
  await new Promise((r) => setTimeout(r, waitMs));
  return s.take();
}

test.before(async () => {
  sim = await startSimulator(testStation(), { portsFromZero: true });
});
test.after(async () => {
  for (const c of clients) await closeClient(c);
  for (const s of sinks) s.close();
  await sim.close();
});
test.after.each(() => sim.clearFaults());

test('bad fault requests are refused with a reason', () => {
  assert.throws(() => sim.setFault({ device: 'P9.scale', kind: 'late', ms: 5 }), /unknown device 'P9.scale'/);
  assert.throws(() => sim.setFault({ device: 'P1.scale', kind: 'late' }), /ms/);
  assert.throws(() => sim.setFault({ device: 'P1.reader', kind: 'frozen' }), /does not apply/);
  assert.throws(() => sim.setFault({ device: 'P1.scale', kind: 'melt' }), /kind/);
});

test('no-answer: Modbus requests time out, the stream goes quiet, reads are lost', async () => {
  const c = await client('P1.scale');
  c.setTimeout(300);
  await gross(c);
  sim.setFault({ device: 'P1.scale', kind: 'no-answer' });
  try {
    await gross(c);
    assert.unreachable('should time out');
  } catch (err) {
    assert.match(String((err as Error).message), /Timed out/i);
  }
  sim.clearFaults('P1.scale');
  await eventually(async () => (await gross(c)) === 0, 3000, 'answers again');

  const s = await sink('P2.scale');
  await eventually(() => s.bytes.length > 0, 3000, 'frames');
  sim.setFault({ device: 'P2.scale', kind: 'no-answer' });
  await new Promise((r) => setTimeout(r, 100));
  s.take();
  await new Promise((r) => setTimeout(r, 300));
  assert.is(s.take().length, 0, 'no frames while faulted');

  await sink('P1.reader');
  await eventually(() => sim.parts.readers.get('P1')!.endpoint.peerCount() > 0, 3000, 'reader client');
  sim.setFault({ device: 'P1.reader', kind: 'no-answer' });
  assert.is(sim.scan('P1', 'X1'), false);
});

test('late: the Modbus answer comes after the delay', async () => {
  const c = await client('P1.scale');
  sim.setFault({ device: 'P1.scale', kind: 'late', ms: 300 });
  const t0 = performance.now();
  await gross(c);
  assert.ok(performance.now() - t0 >= 290, `answered after ${performance.now() - t0} ms`);
});

test('corrupt: RTU answer has a bad CRC; MBAP value bit flips; A9 check char fails; reader line carries DEL', async () => {
  assert.ok(crcOk(await rawRtu()), 'clean answer first');
  sim.setFault({ device: 'check.scale', kind: 'corrupt' });
  const bad = await rawRtu();
  assert.is(bad.length, 9);
  assert.not.ok(crcOk(bad));

  const c = await client('P1.scale');
  const clean = (await c.readHoldingRegisters(4, 2)).data;
  sim.setFault({ device: 'P1.scale', kind: 'corrupt' });
  const flipped = (await c.readHoldingRegisters(4, 2)).data;
  assert.is(flipped[1], clean[1]! ^ 0x01);

  const s = await sink('P2.scale');
  sim.setFault({ device: 'P2.scale', kind: 'corrupt' });
  await new Promise((r) => setTimeout(r, 100));
  s.take();
  await eventually(() => s.bytes.length >= 36, 3000, 'three frames');
  const ev = scaleCodec('xk3190-a9').decoder().push(s.take());
  assert.ok(ev.length > 0 && ev.every((e) => e.kind === 'discarded'), 'every corrupted frame discarded');

  const r = await sink('P1.reader');
  await eventually(() => sim.parts.readers.get('P1')!.endpoint.peerCount() >= 1, 3000, 'reader client');
  sim.setFault({ device: 'P1.reader', kind: 'corrupt' });
  sim.scan('P1', 'ABCDEF');
  await eventually(() => r.bytes.includes('\r\n'), 3000, 'line');
  assert.is(r.take().toString('latin1'), 'ABC\x7fEF\r\n');
});

test('garbage: bytes before the RTU answer are discarded by a framer, the frame after them is good', async () => {
  sim.setFault({ device: 'check.scale', kind: 'garbage', bytes: 5 });
  const got = await rawRtu();
  assert.is(got.length, 5 + 9);
  const ev = rtuFramer('response').push(got);
  assert.is(ev[0]!.kind, 'discarded');
  const frame = ev.find((e) => e.kind === 'frame');
  assert.ok(frame && frame.kind === 'frame' && decodeResponsePdu(frame.frame.pdu).fc === 4);
});

test('link-drop: connections close, new ones are refused, then the server is back on the same port', async () => {
  const s = await sink('P2.scale');
  const port = portOf(sim.endpoints()['P2.scale']!);
  sim.setFault({ device: 'P2.scale', kind: 'link-drop', ms: 500 });
  await eventually(() => s.closed, 3000, 'client closed');
  const refused = await new Promise<boolean>((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' }, () => {
      sock.destroy();
      resolve(false);
    });
    sock.on('error', () => resolve(true));
  });
  assert.ok(refused, 'connection refused while down');
  const again = await eventually(async () => ByteSink.connect(port).catch(() => undefined), 5000, 'reconnect');
  sinks.push(again);
  await eventually(() => again.bytes.length > 0, 3000, 'frames again');
  await eventually(() => sim.faults.list('P2.scale').length === 0, 3000, 'drop leaves the fault list');
});

test('frozen: the scale keeps answering the old value while the cylinder fills', async () => {
  sim.remove('P1');
  sim.place('P1', 'CYL1');
  const scale = await client('P1.scale');
  const valve = await client('P1.valve');
  await eventually(async () => (await gross(scale)) === 1710, 5000, '17.10 kg');
  sim.setFault({ device: 'P1.scale', kind: 'frozen' });
  await valve.writeCoil(0, true);
  // Poll the valve module meanwhile, as a gateway would, so its 400 ms comms watchdog does not close the valve.
  await eventually(async () => (await valve.readCoils(0, 1)) && sim.state().posts[0]!.cylinder!.grossKg > 17.4, 5000, 'really filling');
  assert.is(await gross(scale), 1710);
  await valve.writeCoil(0, false);
  sim.clearFaults('P1.scale');
  await eventually(async () => (await gross(scale)) > 1740, 3000, 'thawed');
  sim.remove('P1');
});

test('stuck-open: the coil goes OFF but the valve stays open and gas keeps flowing', async () => {
  sim.remove('P1');
  sim.place('P1', 'CYL2');
  const valve = await client('P1.valve');
  sim.setFault({ device: 'P1.valve', kind: 'stuck-open' });
  await valve.writeCoil(0, true);
  await eventually(async () => (await valve.readDiscreteInputs(0, 1)).data[0] === false, 3000, 'open');
  await valve.writeCoil(0, false);
  const gas = sim.state().posts[0]!.cylinder!.gasKg;
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((await valve.readCoils(0, 1)).data[0], false, 'coil reads OFF');
  assert.equal((await valve.readDiscreteInputs(0, 1)).data[0], false, 'feedback still open');
  assert.ok(sim.state().posts[0]!.cylinder!.gasKg > gas + 0.05, 'still flowing');
  sim.clearFaults('P1.valve');
  await eventually(async () => (await valve.readDiscreteInputs(0, 1)).data[0] === true, 3000, 'closes when freed');
  sim.remove('P1');
});

test('slow-valve: feedback says open for closeDelayMs after the coil goes OFF', async () => {
  const valve = await client('P1.valve');
  sim.setFault({ device: 'P1.valve', kind: 'slow-valve', closeDelayMs: 600 });
  assert.is(sim.state().posts[0]!.valve.closeDelayMs, 600);
  await valve.writeCoil(0, true);
  await eventually(async () => (await valve.readDiscreteInputs(0, 1)).data[0] === false, 3000, 'open');
  await valve.writeCoil(0, false);
  const t0 = performance.now();
  await eventually(async () => (await valve.readDiscreteInputs(0, 1)).data[0] === true, 5000, 'closed');
  assert.ok(performance.now() - t0 >= 500, `closed after ${performance.now() - t0} ms`);
  sim.clearFaults();
  assert.is(sim.state().posts[0]!.valve.closeDelayMs, 100);
});

test.run();
