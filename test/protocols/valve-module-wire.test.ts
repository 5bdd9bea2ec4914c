/**
 * Two valves on one relay module sharing its feedback read and its FC15
 * keep-alive (devices/valve/relay-module.ts, issue 14 point 3), on a real
 * ModbusBus to the simulator (watchdog off), with a busy poller on the same
 * line, over Modbus TCP with 1 and 4 requests in flight and over RTU: after
 * each close of either valve, the gateway sends no ON for that coil and the
 * module receives none after the close's OFF, until that valve's next open.
 * Asserted on the simulator's wire log and on the frames as sent.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Simulator } from '../../sim/index.ts';
import { mulberry32 } from '../../sim/index.ts';
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import { ModbusValveDriver } from '../../devices/valve/modbus-valve.ts';
import { RelayModule } from '../../devices/valve/relay-module.ts';
import { decodeCoilWrites } from '../e2e/soak-gateway.ts';
import { assertNoOnAfter, assertReceivedOffAfter, lastCoilWrite } from '../fixtures/wire-log.ts';
import { busyPoller, sleep, startWireSim } from './valve-wire-rig.ts';

let sim: Simulator;
test.before(async () => {
  sim = await startWireSim();
});
test.after(async () => {
  await sim.close();
});

const cases = [
  { name: 'Modbus TCP, 1 in flight', post: 'T1', bus: 'mb', framing: 'mbap' as const, maxInFlight: 1 },
  { name: 'Modbus TCP, 4 in flight', post: 'T1', bus: 'mb', framing: 'mbap' as const, maxInFlight: 4 },
  { name: 'RTU over TCP', post: 'R1', bus: 'rtu', framing: 'rtu' as const, maxInFlight: 1 },
];

for (const c of cases) {
  test(`${c.name}: FC15 keep-alives and shared feedback, 2 valves, 30 random closes each: no ON for a closed coil`, async () => {
    const tx: { coil: number; on: boolean; t: number }[] = [];
    const url = sim.deviceEndpoints()[`${c.post}.valve`]!.url;
    const bus = new ModbusBus(url, {
      maxInFlight: c.maxInFlight,
      reconnect: { initialMs: 50, maxMs: 200 },
      onFrame: (dir, b) => {
        if (dir !== 'tx') return;
        const t = performance.now();
        for (const w of decodeCoilWrites(b, c.framing, 2)) tx.push({ ...w, t });
      },
    });
    await bus.open();
    const relay = bus.unit(2, { name: 'relay' });
    const mod = new RelayModule({ unit: relay, writeMultipleCoils: true });
    const valves = [0, 1].map(
      (coil) =>
        new ModbusValveDriver({
          id: `V${coil}`,
          unit: relay,
          coil,
          module: mod,
          feedback: { kind: 'discrete', address: coil, closedWhen: true },
          confirmTimeoutMs: 1000,
          keepAliveMs: 12,
          feedbackPollMs: 40,
          closeTimeoutMs: 2000,
        }),
    );
    const faults: string[] = [];
    for (const v of valves) v.faults.on((f) => faults.push(`${f.code} ${f.message}`));
    const stopPolling = busyPoller([bus.unit(1, { name: 'scale' })], 3);
    await Promise.all(valves.map((v) => v.start()));
    const from = sim.wire.lastSeq;
    const cycles: { coil: number; close: number; next: number }[][] = [[], []];
    const rnd = mulberry32(c.maxInFlight * 7 + (c.framing === 'rtu' ? 1 : 0));
    await Promise.all(
      valves.map(async (v, coil) => {
        for (let i = 0; i < 30; i++) {
          // A failed open or close is judged on the wire below, not here (a broken rule must show there).
          await v.open().catch(() => undefined);
          await sleep(rnd() * 40);
          const close = performance.now();
          await v.close(`cycle ${i}`).catch(() => undefined);
          await sleep(rnd() * 30); // closed while the other valve's keep-alives go on
          cycles[coil]!.push({ coil, close, next: performance.now() });
        }
      }),
    );
    await sleep(50);
    await Promise.all(valves.map((v) => v.stop()));
    await stopPolling();
    await bus.close();
    const log = sim.wire.entries({ since: from, unitId: 2, bus: c.bus });
    const bad: string[] = [];
    for (const cyc of cycles.flat()) {
      const ref = { bus: c.bus, unitId: 2, coil: cyc.coil };
      const late = tx.filter((w) => w.coil === cyc.coil && w.on && w.t > cyc.close && w.t < cyc.next);
      if (late.length) bad.push(`coil ${cyc.coil}: ON sent ${(late[0]!.t - cyc.close).toFixed(1)} ms after the close`);
      try {
        const seg = log.filter((e) => e.t < cyc.next);
        assertNoOnAfter(seg, ref, assertReceivedOffAfter(seg, ref, cyc.close, `coil ${cyc.coil}`).t, `coil ${cyc.coil}`);
      } catch (err) {
        bad.push((err as Error).message.split('\n')[0]!);
      }
    }
    assert.equal(bad, [], `${bad.length} of 60 closes were followed by an ON:\n${bad.join('\n')}`);
    for (const coil of [0, 1]) assert.is(lastCoilWrite(log, { bus: c.bus, unitId: 2, coil })?.on, false);
    const fc15 = log.filter((e) => e.kind === 'request' && e.fc === 15).length;
    const fc02 = log.filter((e) => e.kind === 'request' && e.fc === 2);
    assert.ok(fc15 > 20, `keep-alives went out as FC15 (${fc15})`);
    assert.ok(fc02.length > 0 && fc02.every((e) => e.address === 0 && e.count === 2), 'feedback as one read of both inputs');
    assert.equal(faults, [], 'a keep-alive dropped because of a close is no fault');
  });
}

test.run();
