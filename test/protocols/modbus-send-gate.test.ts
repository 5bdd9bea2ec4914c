/**
 * stillWanted() is asked again as the request's bytes reach the socket (protocols/modbus/connection.ts
 * gate), not only when the bus picks the request: modbus-serial's TcpPort writes a microtask later, and a
 * close decided in that gap (a scale reading's continuation runs first) must still keep the ON off the wire.
 * The valve soak caught one such ON reaching the module 0.4 ms after the close was decided (issue 9).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isFillgateError } from '../../protocols/errors.ts';
import { coilWrites } from '../fixtures/wire-log.ts';
import { startWireSim, wireRig, type WireKind } from './valve-wire-rig.ts';
import type { Simulator } from '../../sim/index.ts';

let sim: Simulator;
test.before(async () => {
  sim = await startWireSim();
});
test.after(async () => {
  await sim.close();
});

for (const kind of ['tcp', 'rtu'] as WireKind[]) {
  test(`${kind}: an ON whose stillWanted() turns false between the pick and the socket write never reaches the module`, async () => {
    const rig = await wireRig(sim, kind);
    try {
      const from = sim.wire.lastSeq;
      let asked = 0;
      // True when the bus picks the write, false from the next question on: a close decided in between.
      const err = await rig.relay.writeCoil(rig.coil.coil, true, { stillWanted: () => ++asked === 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(asked >= 2, `asked ${asked} time(s): only when picked, not as it went out`);
      assert.ok(isFillgateError(err, 'SUPERSEDED'), `expected SUPERSEDED, got ${String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(coilWrites(sim.wire.entries({ since: from }), rig.coil).map((w) => w.on), [], 'no write reached the module');
      // The unit is not blamed for a write that was never sent, and the next request goes through.
      assert.is(rig.relay.getHealth().failures, 0);
      await rig.relay.writeCoil(rig.coil.coil, false);
      assert.equal(coilWrites(sim.wire.entries({ since: from }), rig.coil).map((w) => w.on), [false]);
    } finally {
      await rig.close();
    }
  });
}

test.run();
