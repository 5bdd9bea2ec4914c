/**
 * A close decided while a read to a unit that does not answer holds the
 * connection (the outside-in bench: OFFs reaching the module up to 2.3 s after
 * the trip on a loaded machine). On Modbus TCP the OFF is written at once, next
 * to the read in flight (MBAP transaction ids match the replies); on RTU it
 * waits for the line, at most that one attempt. Asserted on the relay module's
 * wire log (sim.wire), rules in protocols/modbus/README.md.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Simulator } from '../../sim/index.ts';
import { isFillgateError } from '../../protocols/errors.ts';
import { ModbusValveDriver } from '../../devices/valve/modbus-valve.ts';
import { assertNoOnAfter, assertReceivedOffAfter } from '../fixtures/wire-log.ts';
import { sleep, startWireSim, until, wireRig, type WireKind } from './valve-wire-rig.ts';

let sim: Simulator;
const cleanup: Array<() => Promise<void>> = [];
test.before(async () => {
  sim = await startWireSim();
});
test.after(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  await sim.close();
});

const codeOf = (p: Promise<unknown>) => p.then(
  () => 'ok',
  (e: unknown) => (isFillgateError(e) ? e.code : String(e)),
);

/** The read to the silent unit is on the wire, the valve is open; close it and time the OFF on the module's log. */
async function closeBehindSilentRead(kind: WireKind, timeoutMs: number): Promise<{ offMs: number[]; silentSentAt: number[]; closeAt: number[] }> {
  const rig = await wireRig(sim, kind, { timeoutMs, retries: 0, setAsideAfter: 1000, reconnectAfterSilent: 1000 });
  cleanup.push(() => rig.close());
  sim.setFault({ device: rig.silentDevice, kind: 'no-answer' });
  const valve = new ModbusValveDriver({ id: `${kind}.valve`, unit: rig.relay, coil: 0, keepAliveMs: 100, closeTimeoutMs: 10_000 });
  cleanup.push(() => valve.stop());
  await valve.start();
  const out = { offMs: [] as number[], silentSentAt: [] as number[], closeAt: [] as number[] };
  try {
    for (let trial = 0; trial < 3; trial++) {
      await valve.open();
      const sent = rig.txSilent.length;
      const read = codeOf(rig.silent.readHoldingRegisters(0, 2));
      await until(() => rig.txSilent.length > sent, 5000, 'the read to the silent unit on the wire');
      await sleep(20);
      const from = sim.wire.lastSeq;
      const t0 = performance.now();
      const closed = valve.close(`trial ${trial}`);
      // The OFF as the module received it, polled while the read is still waiting for its timeout.
      await until(() => sim.wire.entries({ since: from, unitId: 2, bus: rig.coil.bus }).some((e) => e.fc === 5 && e.value === false), timeoutMs * 4, 'the OFF on the wire');
      const log = sim.wire.entries({ since: from, unitId: 2, bus: rig.coil.bus });
      out.offMs.push(assertReceivedOffAfter(log, rig.coil, t0).t - t0);
      out.silentSentAt.push(rig.txSilent[sent]!);
      out.closeAt.push(t0);
      await closed;
      assert.is(await read, 'TIMEOUT');
      assertNoOnAfter(sim.wire.entries({ since: from, unitId: 2, bus: rig.coil.bus }), rig.coil, t0);
    }
  } finally {
    await valve.stop();
    sim.clearFaults(rig.silentDevice);
    await rig.close();
  }
  return out;
}

test('tcp: an OFF decided while a read to a silent unit is in flight reaches the module well within that read timeout', async () => {
  const timeoutMs = 1500;
  const r = await closeBehindSilentRead('tcp', timeoutMs);
  console.log(`  tcp: close → OFF on the wire ${r.offMs.map((l) => l.toFixed(1)).join(', ')} ms (read timeout ${timeoutMs} ms)`);
  // Wire time is well under a millisecond; the rest is scheduling on a shared, loaded 2-core machine.
  for (const ms of r.offMs) assert.ok(ms < 250, `the OFF reached the wire ${ms.toFixed(0)} ms after the close (the read's timeout is ${timeoutMs} ms)`);
});

test('rtu: the OFF waits for the line (no transaction id), at most the one attempt on it', async () => {
  const timeoutMs = 300;
  const r = await closeBehindSilentRead('rtu', timeoutMs);
  console.log(`  rtu: close → OFF on the wire ${r.offMs.map((l) => l.toFixed(1)).join(', ')} ms (read timeout ${timeoutMs} ms)`);
  r.offMs.forEach((ms, i) => {
    // Not before the silent read's attempt timed out: a second frame on an RS-485 line would collide.
    assert.ok(r.closeAt[i]! + ms >= r.silentSentAt[i]! + timeoutMs - 5, `trial ${i}: OFF ${ms.toFixed(0)} ms after the close, before the read's timeout`);
    assert.ok(ms <= timeoutMs + 150, `trial ${i}: the OFF waited ${ms.toFixed(0)} ms (more than one attempt)`);
  });
});

test.run();
