import { parse, untilSignal, UsageError } from './args.ts';

/**
 * `fillgate sim --station <file> [--ports-from-zero] [--pty-dir DIR] [--json] [--no-watchdog]`:
 * the device simulator, the same program as sim/main.ts (sim/serve.ts): endpoints and
 * warnings printed, the console verbs read on stdin (type help).
 */
export async function simCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    station: { type: 'string', short: 's' },
    'ports-from-zero': { type: 'boolean' },
    'pty-dir': { type: 'string' },
    json: { type: 'boolean' },
    'no-watchdog': { type: 'boolean' },
  });
  if (typeof values.station !== 'string') throw new UsageError('--station <file> is required (e.g. examples/station.yaml)');
  const { serveSimulator } = await import('../../sim/serve.ts');
  const served = await serveSimulator({
    station: values.station,
    portsFromZero: values['ports-from-zero'] === true,
    ...(typeof values['pty-dir'] === 'string' ? { ptyDir: values['pty-dir'] } : {}),
    json: values.json === true,
    noWatchdog: values['no-watchdog'] === true,
  });
  await untilSignal();
  await served.close();
  return 0;
}
