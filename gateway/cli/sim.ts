import { parse, untilSignal } from './args.ts';

/** `fillgate sim --station <file>`: the device simulator (same as sim/main.ts). */
export async function simCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { station: { type: 'string', short: 's' }, 'ports-from-zero': { type: 'boolean' } });
  if (typeof values.station !== 'string') throw new Error('--station <file> is required (e.g. examples/station.yaml)');
  const { startSimulator } = await import('../../sim/index.ts');
  const sim = await startSimulator(values.station, { portsFromZero: values['ports-from-zero'] === true });
  console.log(`simulator control: ${sim.controlUrl}`);
  for (const [device, url] of Object.entries(sim.endpoints())) console.log(`  ${device.padEnd(12)} ${url}`);
  await untilSignal();
  await sim.close();
  return 0;
}
