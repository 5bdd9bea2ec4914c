/**
 * Issue 14 point 3, as a correctness test (no timing goals; the figures are in
 * `npm run bench -- bus-rate`): 32 posts, scales at 10 Hz, one 32-channel
 * relay module with feedback and keep-alives, all on ONE Modbus TCP
 * connection to the simulator, fills at every post for a while: no fill trips
 * STALE_WEIGHT, the module's keep-alive goes out as FC15 and its feedback as
 * one read, and the relay's share of the exchanges stays small.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runBusRate } from './bus-rate.ts';

test('32 scales at 10 Hz + valves on one Modbus TCP connection (4 in flight): every post’s weight stays fresh', async () => {
  // 6 polls (600 ms) as in the valve soak: a margin for a CI machine shared with other jobs, where the
  // simulator also runs in this process; the bench (bus-rate) reports the trips at the shipped 3.
  const r = await runBusRate({ posts: 32, durationMs: 12_000, shared: true, maxInFlight: 4, staleAfterPolls: 6 });
  const why = JSON.stringify(r);
  assert.ok(r.records >= 32, `fills at (nearly) every post: ${why}`);
  assert.is(r.staleTrips, 0, `no STALE_WEIGHT trip: ${why}`);
  assert.ok(r.byKind.keepAliveOrValve > 0 && r.byKind.feedback > 0, why);
  // Shared: 1 FC02 per 200 ms and 1 FC15 per keep-alive for the module, against 32 each per valve.
  assert.ok(r.relayShare < 0.3, `relay exchanges are a small share: ${why}`);
  assert.ok(r.inFlightMax > 1, `requests were pipelined: ${why}`);
});

test.run();
