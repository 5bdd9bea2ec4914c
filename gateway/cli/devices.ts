import { parse, requireConfig, untilSignal } from './args.ts';
import { systemClock } from '../../protocols/clock.ts';
import { buildDevices, healthView, type DeviceHealthView } from '../runtime/devices.ts';

/**
 * `fillgate devices watch --config <file> [--every 1000]`: live samples, code
 * reads and device health from the configured devices, without the fill logic.
 * Valves are only ever commanded closed here.
 */
export async function devicesCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' }, every: { type: 'string', default: '1000' }, 'max-seconds': { type: 'string' } });
  if (positionals[0] !== 'watch') {
    console.error('usage: fillgate devices watch --config <file> [--every <ms between sample lines>] [--max-seconds N]');
    return 2;
  }
  const config = requireConfig(values.config);
  const devices = buildDevices(config, systemClock);
  const every = Number(values.every);
  const lastPrinted = new Map<string, number>();
  const t0 = systemClock.now();
  const stamp = () => `${((systemClock.now() - t0) / 1000).toFixed(1).padStart(7)}s`;
  const scales = [...[...devices.posts.values()].map((d) => d.scale), ...(devices.checkScale ? [devices.checkScale] : [])];
  for (const s of scales) {
    s.samples.on((x) => {
      if ((lastPrinted.get(x.device) ?? -Infinity) + every > x.at) return;
      lastPrinted.set(x.device, x.at);
      console.log(`${stamp()} ${x.device.padEnd(12)} ${x.grossKg.toFixed(3).padStart(9)} kg ${x.stable ? 'stable' : 'motion'}${x.overload ? ' OVERLOAD' : ''}`);
    });
  }
  for (const d of devices.posts.values()) d.reader.reads.on((r) => console.log(`${stamp()} ${r.device.padEnd(12)} ${r.kind} ${r.code}${r.raw !== r.code ? `  (sent "${r.raw}")` : ''}`));
  const printHealth = (h: DeviceHealthView) => console.log(`${stamp()} ${h.device.padEnd(12)} health ${h.state}${h.lastError ? `: ${h.lastError}` : ''}${h.framesDiscarded ? `, ${h.framesDiscarded} frames discarded` : ''}`);
  for (const d of devices.drivers) d.health.on((h) => printHealth(healthView(h, systemClock, config)));
  await devices.start();
  // Where each device stands now, also those that never answered (their health does not change).
  for (const h of devices.health()) printHealth(h);
  // SIGINT ends the watch at once: the --max-seconds timer must not keep the process alive after it.
  let timer: NodeJS.Timeout | undefined;
  const stopAfter = values['max-seconds'] ? new Promise((r) => (timer = setTimeout(r, Number(values['max-seconds']) * 1000))) : new Promise(() => undefined);
  await Promise.race([untilSignal(), stopAfter]);
  clearTimeout(timer);
  // A second Ctrl-C does not wait for the valves' close confirmation (they were only ever commanded closed here).
  process.once('SIGINT', () => process.exit(130));
  console.log('\nhealth:');
  for (const h of devices.health()) console.log(`  ${h.device.padEnd(12)} ${h.state.padEnd(9)} rtt ${h.rttMs?.toFixed(1) ?? '-'} ms, ${h.framesDiscarded} discarded${h.lastError ? `, last error: ${h.lastError}` : ''}`);
  await devices.stop();
  return 0;
}
