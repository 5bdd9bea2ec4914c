import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import { freePort } from './link-helpers.ts';
import { FakeUnits, startTcpSlave } from './modbus-helpers.ts';

test('a coil OFF (valve close) overtakes queued polls and the poll on the wire; a coil ON waits its turn', async () => {
  const units = new FakeUnits([1, 2]);
  units.delayMs = 10;
  const port = await freePort();
  const server = await startTcpSlave(units, port);
  const bus = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`);
  await bus.open();
  const scale = bus.unit(1);
  const relay = bus.unit(2);
  const done: string[] = [];
  const polls = Array.from({ length: 8 }, (_, i) => scale.readHoldingRegisters(0, 2).then(() => done.push(`poll${i}`)));
  const on = relay.writeCoil(0, true).then(() => done.push('on'));
  const off = relay.writeCoil(1, false).then(() => done.push('off'));
  await Promise.all([...polls, on, off]);
  // The first poll was already on the wire; the close is written at once, next to it (MBAP transaction ids).
  assert.ok(done.indexOf('off') <= 1, `close finished at position ${done.indexOf('off')}: ${done.join(' ')}`);
  assert.is(done.indexOf('on'), done.length - 1, `open kept its place: ${done.join(' ')}`);
  // Only the OFF overtook: every other request waited for the one before it (maxInFlight 1).
  assert.is(units.maxActive, 2);
  await bus.close();
  await server.close();
});

test('a coil OFF is still tried on a unit that is set aside', async () => {
  const units = new FakeUnits([2]);
  const port = await freePort();
  const server = await startTcpSlave(units, port);
  const bus = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`, { timeoutMs: 50, retries: 0, setAsideAfter: 1, setAsideMs: 60_000 });
  await bus.open();
  const relay = bus.unit(2);
  units.dead.add(2);
  await relay.readCoils(0, 1).catch(() => undefined);
  assert.is(relay.getHealth().state, 'offline');
  const read = await relay.readCoils(0, 1).catch((e: { code?: string }) => e.code);
  assert.is(read, 'DEVICE_SET_ASIDE');
  units.dead.delete(2);
  await relay.writeCoil(0, false);
  assert.is(units.coils.get(2)![0], false);
  await bus.close();
  await server.close();
});

test.run();
