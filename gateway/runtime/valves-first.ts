/**
 * The first and the last thing a gateway start does with the valves (issue 9
 * point 3). Fill heads are fail-safe, de-energised = closed (domain.md section
 * 4), and the gateway may be restarting after a crash that left a coil ON: so
 * every coil is written OFF before anything that can fail (databases, key,
 * journal recovery, MQTT), and again when the start fails, so that a gateway
 * crash-looping under systemd writes OFF on every attempt.
 *
 * Both waits are bounded: an unreachable relay module must not block the start
 * (or its failure) forever. The driver keeps retrying the OFF in the background
 * and the module's own comms watchdog is the backstop; the reason is logged.
 */
import { errorMessage } from '../../protocols/errors.ts';
import type { ValveDriver } from '../../devices/types.ts';
import type { Logger } from '../log.ts';
import type { StationValves } from './devices.ts';

/** The first connection attempt of a bus (the TCP connect timeout is 3 s). */
export const BUS_OPEN_BOUND_MS = 3000;
/** The valve driver gives up waiting for a close after 2 s (retries go on); a little more here. */
export const VALVE_OFF_BOUND_MS = 2500;

/** Resolves when `p` settles or after `ms`, whichever is first; true if `p` settled. */
export function bounded(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([p.then(() => true, () => true), timeout]).finally(() => clearTimeout(timer));
}

/** Opens the valves' buses and starts every valve driver, which writes its coil OFF first. */
export async function closeValvesFirst(set: StationValves, log: Logger): Promise<void> {
  const opened = set.buses.openNew((bus, err) => log.error({ bus, err: errorMessage(err) }, 'valve bus did not open: the OFF write is retried until it does'));
  if (!(await bounded(opened, BUS_OPEN_BOUND_MS))) log.error({ waitedMs: BUS_OPEN_BOUND_MS }, 'valve bus still opening: going on, the OFF write is retried');
  await whileCollectingFaults(set.valves, log, 'start', () => Promise.all([...set.valves.values()].map((v) => v.start())));
}

/** Writes every coil OFF again (a failed start); returns the valves not confirmed closed within the bound. */
export async function closeValvesAgain(set: StationValves, reason: string, log: Logger): Promise<string[]> {
  return whileCollectingFaults(set.valves, log, reason, () => Promise.all([...set.valves.values()].map((v) => v.close(reason))));
}

/** Stops the valves (one last OFF each) and closes their buses: a start that failed before the other devices existed. */
export async function stopValves(set: StationValves): Promise<void> {
  await Promise.all([...set.valves.values()].map((v) => v.stop().catch(() => undefined)));
  await set.buses.close();
}

/** Runs `act` bounded, then logs every valve not closed with the last fault it reported. */
async function whileCollectingFaults(valves: Map<string, ValveDriver>, log: Logger, why: string, act: () => Promise<unknown>): Promise<string[]> {
  const last = new Map<string, string>();
  const offs = [...valves.values()].map((v) => v.faults.on((f) => last.set(v.id, f.message)));
  try {
    await bounded(act(), VALVE_OFF_BOUND_MS);
  } finally {
    for (const off of offs) off();
  }
  const notClosed = [...valves.values()].filter((v) => v.state !== 'closed');
  for (const v of notClosed) {
    log.error({ valve: v.id, state: v.state, fault: last.get(v.id), why }, `${v.id}: OFF not confirmed within ${VALVE_OFF_BOUND_MS} ms; still retrying, the relay module's watchdog is the backstop`);
  }
  if (notClosed.length === 0) log.info({ valves: [...valves.keys()], why }, 'every valve coil written OFF');
  return notClosed.map((v) => v.id);
}
