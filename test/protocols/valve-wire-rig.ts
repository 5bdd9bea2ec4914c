/**
 * A real ModbusBus against the in-process simulator (watchdog off, so every
 * coil change on the wire is the gateway's own), for the bus-semantics tests
 * of issue 9 point 2. Each bus carries a live scale (unit 1), a relay module
 * (unit 2, coil 0 = the valve under test, discrete input 0 = its closed
 * feedback) and a scale that can be made silent (unit 3, `no-answer`).
 *
 * The frame tap records when the gateway itself put a frame on the wire
 * (performance.now(), the same clock as sim.wire's `t`, one process).
 */
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { ModbusBus, type ModbusBusOptions } from '../../protocols/modbus/bus.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import type { CoilRef } from '../fixtures/wire-log.ts';

export type WireKind = 'tcp' | 'rtu';

/** Two buses, one per transport; the same units on each. */
export function wireStation() {
  const post = (id: string, bus: string, scaleUnit: number, coil: number) => ({
    id,
    scale: { protocol: 'modbus' as const, bus, unitId: scaleUnit, noiseKg: 0, updateHz: 50 },
    reader: {},
    valve: { bus, unitId: 2, coil, feedbackInput: coil, openDelayMs: 20, closeDelayMs: 20 },
  });
  return {
    name: 'valve-wire',
    buses: { mb: { transport: 'modbus-tcp' as const }, rtu: { transport: 'rtu-tcp' as const } },
    posts: [post('T1', 'mb', 1, 0), post('T2', 'mb', 3, 1), post('R1', 'rtu', 1, 0), post('R2', 'rtu', 3, 1)],
  };
}

export function startWireSim(): Promise<Simulator> {
  return startSimulator(wireStation(), { portsFromZero: true, noWatchdog: true });
}

export interface WireRig {
  kind: WireKind;
  sim: Simulator;
  bus: ModbusBus;
  live: ModbusUnit;
  relay: ModbusUnit;
  silent: ModbusUnit;
  /** The valve's coil as the wire log names it. */
  coil: CoilRef;
  /** The silent unit's device id, for sim.setFault. */
  silentDevice: string;
  /** performance.now() of every FC05 ON to the valve's coil the gateway sent. */
  txOn: number[];
  /** performance.now() of every request frame the gateway sent to the silent unit. */
  txSilent: number[];
  /** Called (in a microtask) when an ON to the valve's coil has just been written to the wire. */
  onTxOn?: () => void;
  close(): Promise<void>;
}

export async function wireRig(sim: Simulator, kind: WireKind, opts: ModbusBusOptions = {}): Promise<WireRig> {
  const post = kind === 'tcp' ? 'T' : 'R';
  const url = sim.deviceEndpoints()[`${post}1.valve`]!.url;
  const txOn: number[] = [];
  const txSilent: number[] = [];
  // Assigned below; the tap only runs once the bus is open.
  let rig: WireRig;
  const onFrame = (dir: 'rx' | 'tx', b: Buffer) => {
    if (dir !== 'tx') return;
    // MBAP: 7-byte header then PDU; RTU: unit id then PDU (Modbus over Serial Line v1.02, 2.3).
    const o = kind === 'tcp' ? 6 : 0;
    const unit = b[o];
    if (unit === 3) txSilent.push(performance.now());
    if (unit === 2 && b[o + 1] === 5 && b.readUInt16BE(o + 2) === 0 && b.readUInt16BE(o + 4) === 0xff00) {
      txOn.push(performance.now());
      const hook = rig.onTxOn;
      if (hook) queueMicrotask(hook);
    }
  };
  const bus = new ModbusBus(url, { reconnect: { initialMs: 50, maxMs: 200 }, onFrame, ...opts });
  await bus.open();
  rig = {
    kind,
    sim,
    bus,
    live: bus.unit(1, { name: `${post}1.scale` }),
    relay: bus.unit(2, { name: `${post}.relay` }),
    silent: bus.unit(3, { name: `${post}2.scale` }),
    coil: { bus: kind === 'tcp' ? 'mb' : 'rtu', unitId: 2, coil: 0 },
    silentDevice: `${post}2.scale`,
    txOn,
    txSilent,
    close: () => bus.close(),
  };
  return rig;
}

/**
 * Keeps the bus busy: `loops` concurrent read loops per unit, like one driver
 * per device. Failures are swallowed (a set-aside unit rejects at once, so
 * pause a little). Returns a stop function that waits for the loops to end.
 */
export function busyPoller(units: ModbusUnit[], loops = 2): () => Promise<void> {
  let running = true;
  const all: Promise<void>[] = [];
  for (const u of units) {
    for (let i = 0; i < loops; i++) {
      all.push(
        (async () => {
          while (running) {
            try {
              await u.readHoldingRegisters(0, 2);
            } catch {
              await new Promise((r) => setTimeout(r, 5));
            }
          }
        })(),
      );
    }
  }
  return async () => {
    running = false;
    await Promise.all(all);
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until `cond` holds, polling every 2 ms; throws after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}
