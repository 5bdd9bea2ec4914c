/**
 * Runs the simulator from the command line:
 *   node --import tsx sim/main.ts --station examples/station.yaml [--ports-from-zero] [--pty-dir DIR] [--quiet]
 * Prints the endpoints (device id → URL a gateway opens), then reads commands
 * from stdin (type help). SIGINT/SIGTERM stop it; the end of stdin does not.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { errorMessage } from '../protocols/errors.ts';
import { runCommand, startSimulator } from './index.ts';

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
  const sim = await startSimulator(values.station!, { portsFromZero: values['ports-from-zero'], ptyDir: values['pty-dir'], noWatchdog: values['no-watchdog'] });
  const endpoints = sim.endpoints();
  if (values.json) console.log(JSON.stringify({ control: sim.controlUrl, endpoints }));
  else {
    console.log(`fillgate simulator: ${sim.station.name}`);
    console.log(`control  ${sim.controlUrl}`);
    for (const [id, url] of Object.entries(endpoints)) console.log(`${id.padEnd(14)} ${url}`);
    for (const w of sim.warnings) console.log(`warning: ${w}`);
    console.log('type help for commands');
  }
  const stop = async () => {
    await sim.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // Commands from stdin for people; when stdin ends (run in the background) the simulator keeps serving.
  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    const out = runCommand(sim, line);
    if (out) console.log(out);
  });
}

main().catch((err) => {
  console.error(`simulator failed: ${errorMessage(err)}`);
  process.exit(1);
});
