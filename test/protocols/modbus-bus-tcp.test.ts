import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isFillgateError } from '../../protocols/errors.ts';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import type { DeviceHealth } from '../../protocols/modbus/types.ts';
import { freePort } from './link-helpers.ts';
import { type Closable, FakeUnits, pollFor, startTcpSlave, waitFor } from './modbus-helpers.ts';

const reconnect = { initialMs: 50, maxMs: 200 };

async function setup(unitIds: number[], opts: ConstructorParameters<typeof ModbusBus>[1] = {}) {
  const units = new FakeUnits(unitIds);
  const port = await freePort();
  const server = await startTcpSlave(units, port);
  const bus = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`, { reconnect, ...opts });
  await bus.open();
  return { units, port, server, bus };
}

async function teardown(bus: ModbusBus, server: Closable) {
  await bus.close();
  await server.close();
}

test('reads and writes every supported function over Modbus TCP', async () => {
  const { units, server, bus } = await setup([1]);
  const u = bus.unit(1);
  assert.equal(await u.readHoldingRegisters(10, 3), [1010, 1011, 1012]);
  assert.equal(await u.readHoldingRegisters(5, 1), [1005]);
  assert.equal(await u.readInputRegisters(2, 2), [102, 103]);
  assert.equal(await u.readCoils(0, 4), [true, false, false, true]);
  assert.equal(await u.readDiscreteInputs(0, 2), [false, true]);
  await u.writeRegister(20, 0xbeef);
  await u.writeRegisters(30, [1, 2, 3]);
  await u.writeCoil(1, true);
  assert.is(units.holding.get(1)![20], 0xbeef);
  assert.equal(units.holding.get(1)!.slice(30, 33), [1, 2, 3]);
  assert.is(units.coils.get(1)![1], true);
  assert.equal(await u.readHoldingRegisters(30, 3), [1, 2, 3]);
  const h = u.getHealth();
  assert.is(h.state, 'online');
  assert.is(h.requests, 9);
  assert.is(h.failures, 0);
  assert.ok(typeof h.rttMs === 'number' && typeof h.lastOkAt === 'number');
  assert.is(h.device, `${bus.url}#1`);
  await teardown(bus, server);
});

test('a Modbus exception rejects with its code and never sets the unit aside', async () => {
  const { server, bus } = await setup([1], { setAsideAfter: 2, retries: 1 });
  const u = bus.unit(1, { name: 'scale-1' });
  for (let i = 0; i < 4; i++) {
    const err = await u.readHoldingRegisters(99, 2).catch((e: unknown) => e);
    assert.ok(isFillgateError(err, 'MODBUS_EXCEPTION'), `expected MODBUS_EXCEPTION, got ${String(err)}`);
    assert.is(err.context.exceptionCode, 2);
  }
  let h = u.getHealth();
  assert.is(h.device, 'scale-1');
  assert.is(h.state, 'degraded');
  assert.is(h.setAsideUntil, undefined);
  // Not retried: an exception is an answer.
  assert.is(h.requests, 4);
  assert.is(h.failures, 4);
  assert.equal(await u.readHoldingRegisters(0, 1), [1000]);
  h = u.getHealth();
  assert.is(h.state, 'online');
  await teardown(bus, server);
});

test('bad arguments reject with BAD_PAYLOAD without touching the wire; bad unit ids throw', async () => {
  const { server, bus } = await setup([1]);
  const u = bus.unit(1);
  const cases: Array<() => Promise<unknown>> = [
    () => u.readHoldingRegisters(0, 0),
    () => u.readHoldingRegisters(0, 126),
    () => u.readInputRegisters(-1, 1),
    () => u.readCoils(65535, 2),
    () => u.writeRegister(0, 70000),
    () => u.writeRegister(0, -1),
    () => u.writeRegisters(0, []),
    () => u.writeCoil(0, 1 as unknown as boolean),
  ];
  for (const call of cases) {
    const err = await call().catch((e: unknown) => e);
    assert.ok(isFillgateError(err, 'BAD_PAYLOAD'), `expected BAD_PAYLOAD, got ${String(err)}`);
  }
  assert.is(u.getHealth().requests, 0);
  assert.throws(() => bus.unit(256), /unit id 256/);
  assert.throws(() => bus.unit(1.5), /unit id 1.5/);
  assert.is(bus.unit(1), u);
  await teardown(bus, server);
});

test('a dead unit is set aside and probed later; the live units keep their poll rate', async () => {
  const { units, server, bus } = await setup([1, 2, 3], { timeoutMs: 100, retries: 1, setAsideAfter: 2, setAsideMs: 1000 });
  const live = [bus.unit(1), bus.unit(2)];
  const dead = bus.unit(3);
  units.dead.add(3);

  const baseline = await pollFor(live, 1500);
  const transitions: DeviceHealth[] = [];
  dead.health.on((h) => transitions.push(h));
  const withDead = await pollFor([...live, dead], 3000);

  for (const id of [1, 2]) {
    const before = baseline.get(id)!.ok / 1.5;
    const after = withDead.get(id)!.ok / 3;
    if (process.env.SHOW_RATES) console.log(`unit ${id}: ${before.toFixed(0)}/s alone, ${after.toFixed(0)}/s with a dead unit; dead unit ${JSON.stringify(dead.getHealth())}`);
    assert.ok(after >= 0.5 * before, `unit ${id}: ${after.toFixed(0)}/s with a dead unit vs ${before.toFixed(0)}/s without`);
    assert.is(withDead.get(id)!.failed, 0);
  }
  const h = dead.getHealth();
  assert.is(h.state, 'offline');
  assert.ok(h.setAsideUntil !== undefined, 'dead unit should be set aside');
  assert.ok(transitions.some((t) => t.state === 'offline' && t.setAsideUntil !== undefined));
  // Two attempts before it was set aside, then one probe per second of the 3 s window.
  assert.ok(h.requests >= 3 && h.requests <= 7, `dead unit got ${h.requests} attempts`);
  assert.ok(withDead.get(3)!.failed > h.requests, 'most of its requests were refused at once');
  assert.is(withDead.get(3)!.ok, 0);

  // It comes back: the next probe finds it and it is online again.
  units.dead.delete(3);
  await waitFor(() => {
    void dead.readHoldingRegisters(0, 1).catch(() => undefined);
    return dead.getHealth().state === 'online';
  }, 'the revived unit to be probed back online', 5000);
  assert.is(dead.getHealth().setAsideUntil, undefined);
  await teardown(bus, server);
});

test('the bus never has two requests outstanding, whatever the callers do', async () => {
  const { units, server, bus } = await setup([1, 2, 3]);
  units.delayMs = 3;
  const all: Array<Promise<unknown>> = [];
  for (let i = 0; i < 20; i++) {
    for (const id of [1, 2, 3]) {
      const u = bus.unit(id);
      all.push(u.readHoldingRegisters(i, 2));
      all.push(u.writeRegisters(50 + i, [i, i]));
    }
  }
  await Promise.all(all);
  assert.is(units.maxActive, 1, 'two requests were served at the same time');
  assert.is([...units.served.values()].reduce((a, b) => a + b, 0), 120);
  await teardown(bus, server);
});

test('the configured gap separates the end of one exchange from the next request', async () => {
  const { units, server, bus } = await setup([1, 2], { gapMs: 20 });
  await Promise.all([1, 2, 1, 2, 1, 2].map((id, i) => bus.unit(id).readHoldingRegisters(i, 2)));
  const t = units.timeline;
  assert.is(t.length, 6);
  // Measured at the slave: arrival is recorded late and the answer early, so this under-reads no gap.
  const gaps = t.slice(1).map((e, i) => e.arrived - t[i].answered);
  assert.ok(Math.min(...gaps) >= 18, `gaps ${gaps.map((g) => g.toFixed(1)).join(', ')} ms`);
  await teardown(bus, server);
});

test('link drop: requests fail fast and health goes offline; the bus recovers by itself', async () => {
  // A long timeout: LINK_CLOSED must come at once, not after waiting it out.
  const { units, port, server, bus } = await setup([1, 2], { timeoutMs: 3000 });
  const u1 = bus.unit(1);
  const u2 = bus.unit(2);
  await u1.readHoldingRegisters(0, 2);
  await u2.readHoldingRegisters(0, 2);
  assert.is(u1.getHealth().state, 'online');

  await server.close();
  await waitFor(() => bus.state === 'reconnecting', 'the bus to notice the drop');
  const started = Date.now();
  const err = await u1.readHoldingRegisters(0, 2).catch((e: unknown) => e);
  assert.ok(isFillgateError(err, 'LINK_CLOSED'), `expected LINK_CLOSED, got ${String(err)}`);
  assert.ok(Date.now() - started < 1500, 'LINK_CLOSED should come at once, not after the 3 s timeout');
  for (const h of bus.getHealth()) {
    assert.is(h.state, 'offline');
    assert.match(h.lastError ?? '', /link down/);
  }

  const again = await startTcpSlave(units, port);
  await waitFor(() => bus.state === 'open', 'the bus to reconnect');
  assert.equal(await u1.readHoldingRegisters(1, 2), [1001, 1002]);
  assert.equal(await u2.readHoldingRegisters(1, 2), [2001, 2002]);
  assert.is(u1.getHealth().state, 'online');
  await teardown(bus, again);
});

test('a bus whose server is down at start keeps trying and serves once it appears', async () => {
  const units = new FakeUnits([1]);
  const port = await freePort();
  const bus = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`, { reconnect });
  const err = await bus.open().catch((e: unknown) => e);
  assert.ok(isFillgateError(err, 'LINK_OPEN_FAILED'));
  const u = bus.unit(1);
  assert.is(u.getHealth().state, 'offline');
  const server = await startTcpSlave(units, port);
  await waitFor(() => bus.state === 'open', 'the bus to connect');
  assert.equal(await u.readHoldingRegisters(0, 1), [1000]);
  await teardown(bus, server);
});

test('a TCP peer that accepts but never answers (half-open) is dropped and reconnected', async () => {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const blackHole = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', () => r()));
  const port = (blackHole.address() as net.AddressInfo).port;
  const bus = new ModbusBus(`modbus-tcp://127.0.0.1:${port}`, { reconnect, timeoutMs: 50, retries: 0, reconnectAfterSilent: 3 });
  await bus.open();
  const states: string[] = [];
  bus.stateChange.on((e) => states.push(e.state));
  const units = [bus.unit(1), bus.unit(2), bus.unit(3)];
  for (const u of units) {
    const err = await u.readHoldingRegisters(0, 1).catch((e: unknown) => e);
    assert.ok(isFillgateError(err, 'TIMEOUT'), `expected TIMEOUT, got ${String(err)}`);
  }
  await waitFor(() => connections === 2 && bus.state === 'open', 'a fresh connection after three silent requests');
  assert.equal(states, ['reconnecting', 'open']);
  await bus.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => blackHole.close(() => r()));
});

test.run();
