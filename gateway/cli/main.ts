/**
 * `fillgate <command>`: one dispatcher, each command in its own module so a
 * command's dependencies load only when it runs. Every command and subcommand
 * answers `--help` (also `fillgate help <command>`) with its usage; a mistake on
 * the command line prints what was wrong, the valid options and exits 2.
 */
import { errorMessage } from '../../protocols/errors.ts';
import { UsageError } from './args.ts';

type Command = { summary: string; help: string; run: (args: string[]) => Promise<number | void> };

const commands: Record<string, Command> = {
  demo: {
    summary: 'run the simulator and the gateway together and fill a mix of cylinders',
    help: `usage: fillgate demo [--keep] [-v|--verbose]
  --keep         leave the simulator, the gateway and its dashboard running afterwards (Ctrl-C stops)
  -v, --verbose  also print the gateway's logs`,
    run: async (a) => (await import('./demo.ts')).demoCommand(a),
  },
  start: {
    summary: 'start --config <file>: run the gateway against the configured devices',
    help: `usage: fillgate start --config <file>
  -c, --config <file>  the gateway config (examples/gateway.yaml)
Runs until SIGINT/SIGTERM; every valve is commanded closed on the way out. Prints one line per
fill outcome, refusal and trip: pretty on a terminal, otherwise a JSON log line like the other logs.`,
    run: async (a) => (await import('./start.ts')).startCommand(a),
  },
  sim: {
    summary: 'sim --station <file>: run the device simulator',
    help: `usage: fillgate sim --station <file> [--ports-from-zero] [--pty-dir <dir>] [--json] [--no-watchdog]
  -s, --station <file>  the simulated station (examples/station.yaml)
  --ports-from-zero     ephemeral ports instead of the file's
  --pty-dir <dir>       where the pty pairs of serial devices are made
  --json                print the endpoints as one JSON line
  --no-watchdog         relay modules never clear a coil by themselves
Reads commands on stdin (type help): place P1 E2000017A1B20004, scan P1, badge P1 B1001, press P1 start, ...`,
    run: async (a) => (await import('./sim.ts')).simCommand(a),
  },
  wait: {
    summary: 'wait <post> <phase>[,<phase>...]: wait until a post of the running gateway reaches a phase',
    help: `usage: fillgate wait <post> <phase>[,<phase>...] [--url http://127.0.0.1:8080] [--timeout <s>]
  --url <url>        the gateway's http address (default http://127.0.0.1:8080)
  --timeout <s>      give up after this many seconds (default 60)
Phases: idle identified verified cylinderReady filling cutOff settling checked reweighed closedOut aborted fault.
Exit 0 when reached; 1 on timeout or when the post is in fault instead (its reason is printed).`,
    run: async (a) => (await import('./wait.ts')).waitCommand(a),
  },
  devices: {
    summary: 'devices watch --config <file>: print live samples, reads and device health',
    help: `usage: fillgate devices watch --config <file> [--every <ms>] [--max-seconds <n>]
  -c, --config <file>  the gateway config
  --every <ms>         at most one sample line per scale this often (default 1000)
  --max-seconds <n>    stop after n seconds (Ctrl-C stops at once)
Valves are only ever commanded closed here.`,
    run: async (a) => (await import('./devices.ts')).devicesCommand(a),
  },
  config: {
    summary: 'config check <file>: validate a gateway config, every error with its path',
    help: `usage: fillgate config check <file> [--strict]   every error and warning with its path, line and hint
       fillgate config schema                    the JSON Schema of the config
       fillgate config docs [--write <file.md>]  the reference table (docs/configuration.md)
  --strict  warnings fail the check too`,
    run: async (a) => (await import('./config.ts')).configCommand(a),
  },
  registry: {
    summary: 'registry import --config <file> cylinders|operators <file.csv|json> | registry purge|decant|holds',
    help: `usage: fillgate registry import --config <file> cylinders|operators <file.csv|json> [--valid-rows] [--dry-run]
  -c, --config <file>  the gateway config (the registry is in its dataDir)
  --valid-rows         apply the valid rows even when others are rejected (default: all or nothing)
  --dry-run            check and report, change nothing
       fillgate registry purge --config <file> <cylinder code> --by <supervisor badge> [--vacuum] [--note <text>]
       fillgate registry decant --config <file> <cylinder code> --removed-kg <kg> --by <supervisor badge> [--at <ISO 8601>] [--note <text>]
       fillgate registry holds --config <file>`,
    run: async (a) => (await import('./registry.ts')).registryCommand(a),
  },
  keys: {
    summary: 'keys init [--dir <dataDir>]: create the station signing key, print the public key | keys rotate --config <file>',
    help: `usage: fillgate keys init [--dir <dataDir> | --config <file>]
  --dir <dataDir>      where the key pair is written (default ./data)
  -c, --config <file>  use the config's dataDir
       fillgate keys rotate --config <file> [--at <ISO 8601>]
  a new station key, handed over by the old one to the receiver at upload.url; the new key is used only
  once the receiver accepted it (else nothing changes and running it again resends). Stop the gateway first.`,
    run: async (a) => (await import('./records.ts')).keysCommand(a),
  },
  records: {
    summary: 'records export|verify --config <file> [--from --to --format csv|json]',
    help: `usage: fillgate records export --config <file> [--from <date>] [--to <date>] [--format csv|json] [--out <file>]
       fillgate records verify --config <file>   chain and signatures`,
    run: async (a) => (await import('./records.ts')).recordsCommand(a),
  },
  sync: {
    summary: 'sync status --config <file>: upload backlog and oldest unacknowledged record',
    help: 'usage: fillgate sync status --config <file> [--json]',
    run: async (a) => (await import('./records.ts')).syncCommand(a),
  },
  receiver: {
    summary: "receiver --port <p> --db <file|postgres://…> --station CODE=pubkey.pem [--user NAME:ROLE:HASH]: the regulator's receiver and the inspector's reports (/reports); doctor, station …",
    help: `usage: fillgate receiver --port <p> --db <file|postgres://…> --station CODE=public.pem [--station ...] [--host <h>] [--late-after-ms <n>] [--threads <n>]
                        [--pool <n>] [--node-name <name>] [--admin-token-file <file>] [--retain-months <n≥24>]
                        [--user NAME:inspector|admin:HASH ...] [--users <file.json>] [--session-secret <s>] [--lang zh|en] [--refill-interval-min <n>]
  --user, --users      logins for the inspector's reports at /reports (hash: fillgate mqtt hash-password)
       fillgate receiver doctor --db <url> [--json]
       fillgate receiver station add CODE public.pem | revoke CODE --after ISO [--fp F] | handover handover.json | keys CODE  --db <url>`,
    run: async (a) => (await import('./records.ts')).receiverCommand(a),
  },
  doctor: {
    summary: 'doctor --config <file>: try every configured device, with hints for wiring mistakes',
    help: 'usage: fillgate doctor --config <file> [--json] [--timeout ms] [--reads n] [--listen ms] [--only text]',
    run: async (a) => (await import('./diag.ts')).doctorCommand(a),
  },
  modbus: {
    summary: 'modbus scan <bus-url>: find which unit ids answer on a bus',
    help: 'usage: fillgate modbus scan <modbus-url> [--from 1] [--to 247] [--timeout 100] [--register 0] [--function 3] [--count 1] [--json]',
    run: async (a) => (await import('./diag.ts')).modbusCommand(a),
  },
  serial: {
    summary: 'serial sniff <link-url> --format ...: show raw frames with direction and meaning',
    help: `usage: fillgate serial sniff <serial://…|tcp://…> [--format raw|xk3190-a9|toledo|ascii|lines|modbus-rtu|modbus-tcp]
                             [--send "01 03 00 04 00 06" [--crc] [--every ms]] [--side response|request] [--duration ms] [--json]`,
    run: async (a) => (await import('./diag.ts')).serialCommand(a),
  },
  mqtt: {
    summary: 'mqtt hash-password: hash a password read from stdin, for the config',
    help: `usage: fillgate mqtt hash-password
Reads the password from stdin (typed without echo on a terminal, or piped: printf %s "$PW" | fillgate mqtt hash-password)
and prints the scrypt hash for the config (mqtt device passwords, http.users). The password never goes on the command line.`,
    run: async (a) => (await import('./mqtt.ts')).mqttCommand(a),
  },
  remote: {
    summary: 'remote sign|keygen: sign a remote command (lock, unlock, quarantine, release, status) for gateway/cmd',
    help: `usage: fillgate remote keygen --out <dir> [--id <keyId>]
       fillgate remote sign --key <private.pem> --key-id <id> --station <code> --seq <n> --command lock|unlock|quarantine|release|status
                            [--code <cylinder>] [--reason <text>] [--transaction <id>] [--issued-at <ISO 8601>]`,
    run: async (a) => (await import('./remote.ts')).remoteCommand(a),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return [
    'usage: fillgate <command> [options]',
    '',
    ...Object.entries(commands).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
    '',
    'fillgate <command> --help (or fillgate help <command>) shows a command\'s options; fillgate --version the version.',
  ].join('\n');
}

/** `--help`/`-h` anywhere before a `--` asks for help. */
const wantsHelp = (args: string[]) => {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

/** `fillgate --version`: the version, the Node line, the SQLite build in use and whether this runs compiled (dist/) or from the sources. */
async function version(): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { packageRoot } = await import('../paths.ts');
  const { sqlitePackage } = await import('../sqlite.ts');
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const mode = import.meta.url.endsWith('.js') ? 'compiled (dist/)' : 'sources (tsx)';
  return `fillgate ${pkg.version} (node ${process.version}, ${sqlitePackage}, ${mode})`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    console.log(await version());
    return 0;
  }
  if (!name || name === '-h' || name === '--help' || (name === 'help' && rest.length === 0)) {
    console.log(usage());
    return name ? 0 : 2;
  }
  const helpOn = name === 'help' ? rest[0] : undefined;
  const cmd = commands[helpOn ?? name];
  if (!cmd) {
    console.error(`fillgate: unknown command "${helpOn ?? name}"\n\n${usage()}`);
    return 2;
  }
  if (helpOn !== undefined || wantsHelp(rest)) {
    console.log(cmd.help);
    return 0;
  }
  try {
    const code = await cmd.run(rest);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`fillgate ${name}: ${err.message}\n\n${cmd.help}`);
    return 2;
  }
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
