import { parse, requireConfig, untilSignal } from './args.ts';
import { Station } from '../runtime/station.ts';
import { startStatusServer } from '../http/server.ts';
import { stationMetrics } from '../http/metrics.ts';
import { startWatchdog, stationProbes } from '../runtime/watchdog.ts';

/** `fillgate start --config <file>`: run the gateway until SIGINT/SIGTERM; valves are closed on the way out. */
export async function startCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' } });
  const config = requireConfig(values.config);
  const station = new Station(config);
  await station.start();
  stationMetrics(station);
  if (station.publicKeyPem) console.log(`station public key (register it with the regulator):\n${station.publicKeyPem}`);
  const http = await startStatusServer(station, config.http);
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
