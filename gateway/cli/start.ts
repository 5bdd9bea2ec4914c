import { parse, requireConfig, untilSignal } from './args.ts';
import { Station } from '../runtime/station.ts';
import { startStatusServer } from '../http/server.ts';

/** `fillgate start --config <file>`: run the gateway until SIGINT/SIGTERM; valves are closed on the way out. */
export async function startCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' } });
  const config = requireConfig(values.config);
  const station = new Station(config);
  await station.start();
  if (station.publicKeyPem) console.log(`station public key (register it with the regulator):\n${station.publicKeyPem}`);
  const http = await startStatusServer(station, config.http);
  station.logs('station').info({ url: http.url }, 'status and metrics served');
  const sig = await untilSignal();
  station.logs('station').info({ signal: sig }, 'stopping: closing every valve');
  await http.close();
  await station.stop();
  return 0;
}
