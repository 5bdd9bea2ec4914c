/**
 * An exchange must leave nothing behind once it ended. The connection's
 * "dropped" signal never settles while the link is up, so anything an
 * exchange attaches to it (a Promise.race reaction) lives as long as the
 * connection and keeps that exchange's reply reachable (632 B per exchange,
 * found by a probe). Checked two ways: replies held by WeakRefs must be
 * collectable after gc, and no drop watcher may stay registered.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import { freePort } from './link-helpers.ts';
import { FakeUnits, startTcpSlave } from './modbus-helpers.ts';

// gc without --expose-gc on the command line (the suite runner does not pass it).
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const N = 2000;
// modbus-serial 8.0.25 keeps its last 256 Modbus TCP transactions (tcpport.js
// MAX_TRANSACTIONS, index.js _transactions): bounded, whatever N is.
const LIBRARY_KEEPS = 256;
const tick = () => new Promise((r) => setImmediate(r));

test(`after ${N} exchanges no reply is still reachable and no drop watcher is left`, async () => {
  const units = new FakeUnits([1]);
  units.delayMs = 0;
  const port = await freePort();
  const server = await startTcpSlave(units, port);
  const bus = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`);
  await bus.open();
  const u = bus.unit(1);
  const conn = (bus as unknown as { conn: { dropWatchers?: number } }).conn;
  await u.readHoldingRegisters(0, 4);
  await tick();
  gc();
  const before = process.memoryUsage().heapUsed;
  const refs: WeakRef<number[]>[] = [];
  for (let i = 0; i < N; i++) refs.push(new WeakRef(await u.readHoldingRegisters(0, 4)));
  await tick();
  gc();
  await tick();
  gc();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  const grewKb = (process.memoryUsage().heapUsed - before) / 1024;
  console.log(`  ${alive} of ${N} replies reachable after gc; heapUsed ${grewKb >= 0 ? '+' : ''}${grewKb.toFixed(0)} kB`);
  assert.ok(alive <= LIBRARY_KEEPS + 2, `${alive} of ${N} replies are still reachable: each exchange left something attached to the connection`);
  assert.is(conn.dropWatchers, 0, 'no drop watcher left registered once the exchanges ended');
  await bus.close();
  await server.close();
});

test.run();
