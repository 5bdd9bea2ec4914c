/**
 * Bus semantics that make a close final (issue 9 point 2), asserted on the
 * ordered coil writes the relay module received (sim.wire), never only on the
 * final state: a real ModbusBus over Modbus TCP and over RTU-over-TCP against
 * the in-process simulator (watchdog off), a ModbusValveDriver on the relay
 * unit and a busy poller on the same line. Rules: protocols/modbus/README.md.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Simulator } from '../../sim/index.ts';
import { mulberry32 } from '../../sim/index.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { ModbusValveDriver } from '../../devices/valve/modbus-valve.ts';
import { assertNoOnAfter, assertReceivedOffAfter, coilWrites, dump, lastCoilWrite } from '../fixtures/wire-log.ts';
import { busyPoller, sleep, startWireSim, until, wireRig, type WireKind, type WireRig } from './valve-wire-rig.ts';

let sim: Simulator;
/** Closed after the suite even when a test failed half-way (a running poller or bus keeps the process alive). */
const cleanup: Array<() => Promise<void>> = [];
test.before(async () => {
  sim = await startWireSim();
});
test.after(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  await sim.close();
});

async function rigFor(kind: WireKind, opts: Parameters<typeof wireRig>[2] = {}): Promise<WireRig> {
  const rig = await wireRig(sim, kind, opts);
  cleanup.push(() => rig.close());
  return rig;
}

function poll(...args: Parameters<typeof busyPoller>): () => Promise<void> {
  const stop = busyPoller(...args);
  cleanup.push(stop);
  return stop;
}

function driver(opts: ConstructorParameters<typeof ModbusValveDriver>[0]): ModbusValveDriver {
  const valve = new ModbusValveDriver(opts);
  cleanup.push(() => valve.stop());
  return valve;
}

const codeOf = (p: Promise<unknown>) => p.then(
  () => 'ok',
  (e: unknown) => (isFillgateError(e) ? e.code : String(e)),
);
const relayLog = (rig: WireRig, since: number) => sim.wire.entries({ since, unitId: 2, bus: rig.coil.bus });
const feedback = { kind: 'discrete' as const, address: 0, closedWhen: true };

for (const kind of ['tcp', 'rtu'] as WireKind[]) {
  test(`${kind}: keep-alive and 40 closes at random moments: after each close no ON reaches the wire until the next open`, async () => {
    const rig = await rigFor(kind);
    const stopPolling = poll([rig.live], 3);
    const valve = driver({ id: `${kind}.valve`, unit: rig.relay, coil: 0, keepAliveMs: 15, closeTimeoutMs: 5000 });
    const faults: string[] = [];
    valve.faults.on((f) => faults.push(`${f.code} ${f.message}`));
    await valve.start();
    const rnd = mulberry32(kind === 'tcp' ? 9 : 10);
    const from = sim.wire.lastSeq;
    const cycles: Array<{ close: number; next: number }> = [];
    for (let i = 0; i < 40; i++) {
      await valve.open();
      await sleep(rnd() * 45);
      const close = performance.now();
      await valve.close(`cycle ${i}`);
      await sleep(rnd() * 30); // closed for a while: keep-alives run
      cycles.push({ close, next: performance.now() });
    }
    await sleep(60);
    await valve.stop();
    await stopPolling();
    const log = relayLog(rig, from);
    const bad: string[] = [];
    cycles.forEach((c, i) => {
      // The gateway sent no ON once the close was decided (an ON already on the wire may still arrive)...
      const late = rig.txOn.filter((t) => t > c.close && t < c.next);
      if (late.length) bad.push(`cycle ${i}: ON sent ${(late[0]! - c.close).toFixed(1)} ms after the close`);
      // ...and the module saw no ON after the close's OFF, until the next open.
      const seg = log.filter((e) => e.t < c.next);
      try {
        assertNoOnAfter(seg, rig.coil, assertReceivedOffAfter(seg, rig.coil, c.close, `cycle ${i}`).t, `cycle ${i}`);
      } catch (err) {
        bad.push((err as Error).message.split('\n')[0]!);
      }
    });
    assert.equal(bad, [], `${bad.length} of 40 closes were followed by an ON:\n${bad.join('\n')}`);
    assert.is(lastCoilWrite(log, rig.coil)?.on, false);
    assert.equal(faults, [], 'a keep-alive dropped because of a close is no fault');
    await rig.close();
  });

  test(`${kind}: open then immediate close: the ON never reaches the wire after the OFF, the driver confirms closed`, async () => {
    const rig = await rigFor(kind);
    const stopPolling = poll([rig.live], 3);
    const valve = driver({ id: `${kind}.valve`, unit: rig.relay, coil: 0, feedback, confirmTimeoutMs: 1000, feedbackPollMs: 50 });
    const faults: string[] = [];
    valve.faults.on((f) => faults.push(`${f.code} ${f.message}`));
    await valve.start();
    for (let i = 0; i < 10; i++) {
      const from = sim.wire.lastSeq;
      const t = performance.now();
      const opening = codeOf(valve.open());
      await valve.close(`immediate ${i}`);
      assert.is(await opening, 'NOT_CONFIRMED', `cycle ${i}: the open was overtaken`);
      await sleep(60);
      const log = relayLog(rig, from);
      const off = assertReceivedOffAfter(log, rig.coil, t, `cycle ${i}`);
      assertNoOnAfter(log, rig.coil, off.t, `cycle ${i}`);
      assert.is(lastCoilWrite(log, rig.coil)?.on, false, `cycle ${i}: the wire ends OFF\n${dump(log, rig.coil)}`);
      assert.is(valve.state, 'closed');
    }
    assert.equal((await rig.relay.readCoils(0, 1))[0], false);
    assert.equal(faults, []);
    await valve.stop();
    await stopPolling();
    await rig.close();
  });

  test(`${kind}: a close while the ON is on the wire: the driver writes OFF after it and confirms`, async () => {
    const rig = await rigFor(kind);
    const stopPolling = poll([rig.live], 3);
    const valve = driver({ id: `${kind}.valve`, unit: rig.relay, coil: 0, feedback, confirmTimeoutMs: 1000, feedbackPollMs: 50 });
    await valve.start();
    for (let i = 0; i < 5; i++) {
      const from = sim.wire.lastSeq;
      // The close is decided while the ON is on the wire (right after its frame was written).
      let closing: Promise<void> | undefined;
      rig.onTxOn = () => {
        rig.onTxOn = undefined;
        closing = valve.close(`overtaking ${i}`);
      };
      const opening = codeOf(valve.open());
      await until(() => closing !== undefined, 5000, 'the ON on the wire');
      await closing;
      assert.is(await opening, 'NOT_CONFIRMED');
      await sleep(60);
      const writes = coilWrites(relayLog(rig, from), rig.coil).map((w) => w.on);
      assert.is(writes[writes.length - 1], false, `cycle ${i}: wire ${JSON.stringify(writes)}`);
      assert.ok(writes.lastIndexOf(false) > writes.lastIndexOf(true), `cycle ${i}: OFF after the ON`);
      assert.is(valve.state, 'closed');
    }
    await valve.stop();
    await stopPolling();
    await rig.close();
  });

  test(`${kind}: an urgent OFF drops a queued ON to the same coil (SUPERSEDED), not to another coil or unit`, async () => {
    const rig = await rigFor(kind);
    await rig.relay.writeCoil(0, false);
    await rig.relay.writeCoil(1, false);
    const from = sim.wire.lastSeq;
    const polls = Array.from({ length: 4 }, () => codeOf(rig.live.readHoldingRegisters(0, 2)));
    const on = codeOf(rig.relay.writeCoil(0, true));
    const other = codeOf(rig.relay.writeCoil(1, true));
    const otherUnit = codeOf(rig.live.writeCoil(0, true));
    const off = codeOf(rig.relay.writeCoil(0, false));
    assert.is(await off, 'ok');
    assert.is(await on, 'SUPERSEDED');
    assert.is(await other, 'ok');
    await Promise.all([...polls, otherUnit]);
    const log = relayLog(rig, from);
    assert.equal(coilWrites(log, rig.coil).map((w) => w.on), [false], dump(log, rig.coil));
    assert.equal(coilWrites(log, { ...rig.coil, coil: 1 }).map((w) => w.on), [true]);
    await rig.relay.writeCoil(1, false);
    await rig.close();
  });

  test(`${kind}: stillWanted() is asked when the frame is sent: an ON no longer wanted never reaches the wire`, async () => {
    const rig = await rigFor(kind);
    await rig.relay.writeCoil(0, false);
    const from = sim.wire.lastSeq;
    let wanted = true;
    let asked = 0;
    const polls = Array.from({ length: 4 }, () => codeOf(rig.live.readHoldingRegisters(0, 2)));
    const stale = codeOf(rig.relay.writeCoil(0, true, { stillWanted: () => (asked++, wanted) }));
    wanted = false; // decided after the write was queued, before it was sent
    assert.is(await stale, 'SUPERSEDED');
    assert.ok(asked >= 1, 'asked at send time');
    await Promise.all(polls);
    assert.equal(coilWrites(relayLog(rig, from), rig.coil), []);
    wanted = true;
    await rig.relay.writeCoil(0, true, { stillWanted: () => wanted });
    assert.equal(coilWrites(relayLog(rig, from), rig.coil).map((w) => w.on), [true]);
    await rig.relay.writeCoil(0, false);
    await rig.close();
  });

  test(`${kind}: close latency behind a silent unit is at most one timeout, whatever the retries (0/1/2/5)`, async () => {
    const timeoutMs = 300;
    const margin = 150; // wire time and scheduling on a shared 2-core machine
    const worst: Record<number, number> = {};
    for (const retries of [0, 1, 2, 5]) {
      const rig = await rigFor(kind, { timeoutMs, retries, setAsideAfter: 1000, reconnectAfterSilent: 1000 });
      sim.setFault({ device: rig.silentDevice, kind: 'no-answer' });
      const stopPolling = poll([rig.live], 1);
      const valve = driver({ id: `${kind}.valve`, unit: rig.relay, coil: 0, closeTimeoutMs: 10_000 });
      await valve.start();
      const lat: number[] = [];
      for (let trial = 0; trial < 3; trial++) {
        const sent = rig.txSilent.length;
        const poll = codeOf(rig.silent.readHoldingRegisters(0, 2));
        await until(() => rig.txSilent.length > sent, 5000, 'the first attempt to the silent unit on the wire');
        await sleep(20);
        const from = sim.wire.lastSeq;
        const t0 = performance.now();
        await valve.close(`latency ${trial}`);
        lat.push(assertReceivedOffAfter(relayLog(rig, from), rig.coil, t0).t - t0);
        assert.is(await poll, 'TIMEOUT');
      }
      worst[retries] = Math.max(...lat);
      console.log(`  ${kind} retries=${retries}: close → OFF on the wire ${lat.map((l) => l.toFixed(0)).join(', ')} ms`);
      await valve.stop();
      await stopPolling();
      sim.clearFaults(rig.silentDevice);
      await rig.close();
    }
    for (const [r, ms] of Object.entries(worst)) {
      assert.ok(ms <= timeoutMs + margin, `retries=${r}: the OFF reached the wire ${ms.toFixed(0)} ms after the close (limit ${timeoutMs + margin})`);
    }
  });
}

test.run();
