/**
 * `fillgate <command>`: one dispatcher, each command in its own module so a
 * command's dependencies load only when it runs.
 */
import { errorMessage } from '../../protocols/errors.ts';

type Command = { summary: string; run: (args: string[]) => Promise<number | void> };

const commands: Record<string, Command> = {
  demo: { summary: 'run the simulator and the gateway together and fill a mix of cylinders', run: async (a) => (await import('./demo.ts')).demoCommand(a) },
  start: { summary: 'start --config <file>: run the gateway against the configured devices', run: async (a) => (await import('./start.ts')).startCommand(a) },
  sim: { summary: 'sim --station <file>: run the device simulator', run: async (a) => (await import('./sim.ts')).simCommand(a) },
  devices: { summary: 'devices watch --config <file>: print live samples, reads and device health', run: async (a) => (await import('./devices.ts')).devicesCommand(a) },
  config: { summary: 'config check <file>: validate a gateway config, every error with its path', run: async (a) => (await import('./config.ts')).configCommand(a) },
  registry: { summary: 'registry import --config <file> cylinders|operators <file.csv|json>', run: async (a) => (await import('./registry.ts')).registryCommand(a) },
  keys: { summary: 'keys init [--dir <dataDir>]: create the station signing key, print the public key', run: async (a) => (await import('./records.ts')).keysCommand(a) },
  records: { summary: 'records export|verify --config <file> [--from --to --format csv|json]', run: async (a) => (await import('./records.ts')).recordsCommand(a) },
  sync: { summary: 'sync status --config <file>: upload backlog and oldest unacknowledged record', run: async (a) => (await import('./records.ts')).syncCommand(a) },
  receiver: { summary: "receiver --port <p> --db <file> --station CODE=pubkey.pem [--user NAME:ROLE:HASH]: the regulator's receiver and the inspector's reports (/reports)", run: async (a) => (await import('./records.ts')).receiverCommand(a) },
  doctor: { summary: 'doctor --config <file>: try every configured device, with hints for wiring mistakes', run: async (a) => (await import('./diag.ts')).doctorCommand(a) },
  modbus: { summary: 'modbus scan <bus-url>: find which unit ids answer on a bus', run: async (a) => (await import('./diag.ts')).modbusCommand(a) },
  serial: { summary: 'serial sniff <link-url> --format ...: show raw frames with direction and meaning', run: async (a) => (await import('./diag.ts')).serialCommand(a) },
  mqtt: { summary: 'mqtt hash-password <pw>: hash a device password for the config', run: async (a) => (await import('./mqtt.ts')).mqttCommand(a) },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return ['usage: fillgate <command> [options]', '', ...Object.entries(commands).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`fillgate: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const code = await cmd.run(rest);
  return typeof code === 'number' ? code : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err) => {
    console.error(`fillgate: ${errorMessage(err)}`);
    process.exitCode = 1;
  },
);
