/**
 * Runs the simulator from the command line:
 *   node --import tsx sim/main.ts --station examples/station.yaml [--ports-from-zero] [--pty-dir DIR] [--json] [--no-watchdog]
 * Prints the endpoints (device id → URL a gateway opens), then reads commands
 * from stdin (type help). SIGINT/SIGTERM stop it; the end of stdin does not.
 * `fillgate sim` is the same program (sim/serve.ts).
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../protocols/errors.ts';
import { serveSimulator } from './serve.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      station: { type: 'string', default: 'examples/station.yaml' },
      'ports-from-zero': { type: 'boolean', default: false },
      'pty-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      // Tests of the gateway's own writes: no relay module clears a coil by itself.
      'no-watchdog': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node --import tsx sim/main.ts --station FILE [--ports-from-zero] [--pty-dir DIR] [--json] [--no-watchdog]');
    return;
  }
  const served = await serveSimulator({ station: values.station!, portsFromZero: values['ports-from-zero'], ptyDir: values['pty-dir'], json: values.json, noWatchdog: values['no-watchdog'] });
  const stop = async () => {
    await served.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err) => {
  console.error(`simulator failed: ${errorMessage(err)}`);
  process.exit(1);
});
