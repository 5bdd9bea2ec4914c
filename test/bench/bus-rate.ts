/**
 * Issue 14 point 3, the figures: 32 posts (scales at 10 Hz, one 32-channel
 * relay module with feedback and keep-alives) filling on ONE Modbus TCP
 * connection to the simulator (test/e2e/bus-rate.ts). Three runs:
 *   before  - a feedback read and an FC05 keep-alive per valve, no idle slowdown;
 *   shared  - the module's feedback in one FC02, its keep-alive in one FC15, idle scales at 2 Hz;
 *   shared+4 - the same with 4 requests in flight (maxInFlight 4).
 * Printed: exchanges/s, the share of relay (feedback + coil write) exchanges,
 * bus utilisation and queue-wait p99 (the gateway's own figures), STALE_WEIGHT
 * trips at the shipped stale limit (3 polls), and requests/s with every post
 * idle. The simulator runs in this process (BUS_RATE_CHILD=1: as its own
 * process), so event-loop lag and the machine's load average are printed
 * beside: on a crowded machine they, not the bus, decide the trips.
 * BUS_RATE_SECONDS=n changes the length of each run (default 20).
 */
import { runBusRate, type BusRateReport } from '../e2e/bus-rate.ts';

export async function run(opts: { print: boolean; seconds?: number }): Promise<Record<string, BusRateReport>> {
  const seconds = opts.seconds ?? Number(process.env.BUS_RATE_SECONDS ?? 20);
  const out: Record<string, BusRateReport> = {};
  const runs = [
    ['before', { shared: false, maxInFlight: 1 }],
    ['shared', { shared: true, maxInFlight: 1 }],
    ['shared+4', { shared: true, maxInFlight: 4 }],
  ] as const;
  for (const [name, o] of runs) {
    const r = await runBusRate({ posts: 32, durationMs: seconds * 1000, idleTailMs: 3000, childSim: process.env.BUS_RATE_CHILD === '1', ...o });
    out[name] = r;
    if (opts.print) {
      console.log(
        `${name.padEnd(9)} ${r.fills} fills in ${r.seconds} s: ${r.exchangesPerSec} exchanges/s (scale ${r.byKind.scale}, feedback ${r.byKind.feedback}, coil writes ${r.byKind.keepAliveOrValve}), ` +
          `relay share ${(r.relayShare * 100).toFixed(1)} %, utilisation ${(r.utilisation * 100).toFixed(0)} %, queue wait p99 ${r.queueWaitP99Ms} ms, in flight max ${r.inFlightMax}, ` +
          `STALE_WEIGHT trips ${r.staleTrips} of ${r.records} records; idle ${r.idleExchangesPerSec} exchanges/s; loop lag p99 ${r.loopLagP99Ms} ms max ${r.loopLagMaxMs} ms, load average ${r.loadAverage}`,
      );
    }
  }
  return out;
}
