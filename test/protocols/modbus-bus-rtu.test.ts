import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isFillgateError } from '../../protocols/errors.ts';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import { PtyPair } from './link-helpers.ts';
import { missing, skipIf } from '../fixtures/needs.ts';
import { FakeUnits, startDeviceServer, startSerialSlave, waitFor } from './modbus-helpers.ts';

const reconnect = { initialMs: 50, maxMs: 200 };
const pty = new PtyPair();
const noSocat = missing('socat');
const it = skipIf(test, noSocat);

test.before(async () => {
  if (!noSocat) await pty.start();
});

test.after(async () => {
  await pty.dispose();
});

async function exercise(u: ModbusUnit, units: FakeUnits) {
  assert.equal(await u.readHoldingRegisters(10, 3), [1010, 1011, 1012]);
  assert.equal(await u.readInputRegisters(2, 2), [102, 103]);
  assert.equal(await u.readCoils(0, 4), [true, false, false, true]);
  assert.equal(await u.readDiscreteInputs(0, 2), [false, true]);
  await u.writeRegister(20, 0x1234);
  await u.writeRegisters(30, [7, 8]);
  await u.writeCoil(2, true);
  assert.is(units.holding.get(1)![20], 0x1234);
  assert.equal(units.holding.get(1)!.slice(30, 32), [7, 8]);
  assert.is(units.coils.get(1)![2], true);
  const err = await u.readHoldingRegisters(99, 2).catch((e: unknown) => e);
  assert.ok(isFillgateError(err, 'MODBUS_EXCEPTION'), `expected MODBUS_EXCEPTION, got ${String(err)}`);
  assert.is(err.context.exceptionCode, 2);
  assert.equal(await u.readHoldingRegisters(0, 1), [1000]);
  assert.is(u.getHealth().state, 'online');
}

it('Modbus RTU on a serial line (socat pty, ServerSerial): reads, writes, exceptions', async () => {
  const units = new FakeUnits([1]);
  const slave = await startSerialSlave(units, pty.b);
  const bus = new ModbusBus(`modbus-rtu://${pty.a}?baud=9600`, { reconnect });
  await bus.open();
  await exercise(bus.unit(1), units);
  await bus.close();
  await slave.close();
});

it('RTU over TCP through a device server: reads, writes, exceptions', async () => {
  const units = new FakeUnits([1]);
  const slave = await startSerialSlave(units, pty.b);
  const device = await startDeviceServer(pty.a);
  const bus = new ModbusBus(`modbus-rtu-tcp://127.0.0.1:${device.port}`, { reconnect });
  await bus.open();
  await exercise(bus.unit(1), units);
  await bus.close();
  await device.close();
  await slave.close();
});

it('RTU over TCP: a corrupted reply is a BAD_FRAME, counted and retried; line noise is discarded', async () => {
  const units = new FakeUnits([1]);
  const slave = await startSerialSlave(units, pty.b);
  const device = await startDeviceServer(pty.a);
  const bus = new ModbusBus(`modbus-rtu-tcp://127.0.0.1:${device.port}`, { reconnect, retries: 1 });
  await bus.open();
  const u = bus.unit(1);
  assert.equal(await u.readHoldingRegisters(0, 2), [1000, 1001]);
  device.corruptNextReply();
  assert.equal(await u.readHoldingRegisters(4, 2), [1004, 1005]);
  let h = u.getHealth();
  assert.is(h.framesDiscarded, 1);
  assert.is(h.failures, 1);
  assert.is(h.requests, 3);
  assert.is(h.state, 'online');
  assert.match(h.lastError ?? '', /CRC/);

  device.inject(Buffer.from([0x00, 0xff, 0x13]));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await u.readHoldingRegisters(6, 1), [1006]);
  h = u.getHealth();
  assert.is(h.framesDiscarded, 2);
  await bus.close();
  await device.close();
  await slave.close();
});

it('RTU line with one dead unit: never two requests on the line, dead unit set aside, the others served', async () => {
  const units = new FakeUnits([1, 2, 3]);
  units.dead.add(3);
  units.delayMs = 2;
  const slave = await startSerialSlave(units, pty.b);
  const bus = new ModbusBus(`modbus-rtu://${pty.a}`, { reconnect, timeoutMs: 80, retries: 0, setAsideAfter: 2, setAsideMs: 10_000 });
  await bus.open();
  const results = await Promise.allSettled(
    Array.from({ length: 15 }, (_, i) => [1, 2, 3].map((id) => bus.unit(id).readHoldingRegisters(i, 2))).flat(),
  );
  const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code));
  // Units 1 and 2 (positions 0 and 1 of each triple) all answered.
  assert.ok(codes.every((c, i) => (i % 3 === 2 ? c !== 'ok' : c === 'ok')), codes.join(','));
  // Unit 3: two timeouts, then refused at once.
  const dead = codes.filter((_, i) => i % 3 === 2);
  assert.equal(dead.slice(0, 2), ['TIMEOUT', 'TIMEOUT']);
  assert.ok(dead.slice(2).every((c) => c === 'DEVICE_SET_ASIDE'), dead.join(','));
  assert.is(units.maxActive, 1);
  assert.is(units.served.get(1), 15);
  assert.is(units.served.get(2), 15);
  const health = Object.fromEntries(bus.getHealth().map((h) => [h.device.split('#')[1], h]));
  assert.is(health['1'].state, 'online');
  assert.is(health['2'].state, 'online');
  assert.is(health['3'].state, 'offline');
  assert.is(health['3'].requests, 2);
  await bus.close();
  await slave.close();
});

it('RTU: the adapter is unplugged and plugged back; the bus reopens the port by itself', async () => {
  const units = new FakeUnits([1]);
  let slave = await startSerialSlave(units, pty.b);
  const bus = new ModbusBus(`modbus-rtu://${pty.a}`, { reconnect });
  await bus.open();
  const u = bus.unit(1);
  assert.equal(await u.readHoldingRegisters(0, 1), [1000]);
  await slave.close();
  await pty.stop();
  await waitFor(() => bus.state === 'reconnecting', 'the bus to notice the unplug');
  const err = await u.readHoldingRegisters(0, 1).catch((e: unknown) => e);
  assert.ok(isFillgateError(err, 'LINK_CLOSED'), `expected LINK_CLOSED, got ${String(err)}`);
  assert.is(u.getHealth().state, 'offline');
  await pty.start();
  slave = await startSerialSlave(units, pty.b);
  await waitFor(() => bus.state === 'open', 'the bus to reopen the port');
  assert.equal(await u.readHoldingRegisters(1, 1), [1001]);
  assert.is(u.getHealth().state, 'online');
  await bus.close();
  await slave.close();
});

test.run();
