import { parse, requireConfig, untilSignal } from './args.ts';
import { Station } from '../runtime/station.ts';
import { bindHttp, type BoundHttp } from '../http/bind.ts';
import { startWatchdog, stationProbes } from '../runtime/watchdog.ts';
import { reportOutcomes } from './outcome-line.ts';

/**
 * `fillgate start --config <file>`: run the gateway until SIGINT/SIGTERM; valves
 * are closed first, on the way out, and when the start fails (exit 1 with the reason).
 */
export async function startCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' } });
  const config = requireConfig(values.config);
  const station = new Station(config, { configFile: values.config as string });
  closeValvesOnCrash(station);
  // The HTTP port is bound right after the valves are OFF, before any post starts: a port in use
  // fails the start (valves OFF again, exit 1) rather than a gateway filling without /status or /metrics.
  // The dashboard and the metrics (prom-client) are loaded from then on, while the station opens its
  // databases: not before the valves' OFF (issue 14, start-up time).
  let bound: BoundHttp | undefined;
  let later: Promise<[typeof import('../http/server.ts'), typeof import('../http/metrics.ts')]> | undefined;
  const bindStep = {
    step: `binding the http port ${config.http.host}:${config.http.port}`,
    run: async () => {
      bound = await bindHttp(config.http);
      later = Promise.all([import('../http/server.ts'), import('../http/metrics.ts')]);
      later.catch(() => undefined); // awaited below; a start that fails meanwhile must not leave it unhandled
    },
  };
  try {
    await station.start({ afterValvesOff: [bindStep] });
  } catch (err) {
    await bound?.close();
    // start() wrote every coil OFF again and logged why; main.ts prints the reason and exits 1.
    // Should a handle still keep the loop alive, exit anyway: systemd must see the failure to restart us.
    setTimeout(() => process.exit(1), 5000).unref();
    throw err;
  }
  const [{ startStatusServer }, { stationMetrics }] = await later!;
  stationMetrics(station);
  // One line per fill outcome, refusal and trip: pretty for a person at a terminal, a JSON log line for journald.
  const fills = station.logs('fill');
  reportOutcomes(station.events, { pretty: process.stdout.isTTY === true, print: (l) => console.log(l), log: (f, msg) => fills.info(f, msg) });
  if (station.publicKeyPem) console.log(`station public key (register it with the regulator):\n${station.publicKeyPem}`);
  const http = await startStatusServer(station, config.http, bound);
  station.logs('station').info({ url: http.url }, 'status and metrics served');
  // systemd (Type=notify): READY=1 now, WATCHDOG=1 while healthy; nothing without NOTIFY_SOCKET.
  const watchdog = startWatchdog({ posts: stationProbes(station.posts), log: station.logs('systemd') });
  await watchdog?.ready();
  const sig = await untilSignal();
  station.logs('station').info({ signal: sig }, 'stopping: closing every valve');
  await watchdog?.stop();
  await http.close();
  await station.stop();
  return 0;
}

/**
 * A bug that escapes to the top must not leave a valve open: write every coil
 * OFF (bounded wait), then exit non-zero so systemd restarts the service. The
 * relay modules' own watchdogs are the backstop if even this cannot run.
 */
function closeValvesOnCrash(station: Station): void {
  const crash = (err: unknown) => {
    station.logs('station').fatal({ err: err instanceof Error ? err.stack : String(err) }, 'uncaught error: closing every valve and exiting');
    const valves = station.valves.map((v) => v.close('PROCESS_INTERRUPTED').catch(() => undefined));
    const bound = new Promise((r) => setTimeout(r, 2000).unref());
    void Promise.race([Promise.all(valves), bound]).finally(() => process.exit(70));
  };
  process.once('uncaughtException', crash);
  process.once('unhandledRejection', crash);
}
