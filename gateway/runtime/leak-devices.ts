/**
 * Builds the Modbus gas detector controllers and emergency cut-off valves of the config
 * (`leakDetectors`, `cutoffValves`) on the station's shared buses, so a controller or a cut-off
 * relay on the fill valves' RS-485 line or Modbus TCP connection goes through the same arbiter.
 * The leak interlock they feed is started by leak.ts.
 */
import { ModbusLeakDetector } from '../../devices/leak/detector.ts';
import { ModbusCutoffValve } from '../../devices/leak/cutoff.ts';
import { channelRegisters, leakDetectorMap } from '../../devices/leak/presets.ts';
import type { Clock } from '../../protocols/clock.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import type { GatewayConfig } from '../config/config.ts';
import type { LeakDetectorConfig } from '../config/leak-devices.ts';

export interface LeakDrivers {
  detectors: ModbusLeakDetector[];
  cutoffs: ModbusCutoffValve[];
  /** Channel (detector) id → its controller's config: ids and locations for the interlock. */
  channels: { id: string; controller: string; location?: string }[];
  cutoffLocations: Record<string, string>;
}

type UnitOf = (bus: string, unit: number, name: string) => ModbusUnit;

export function buildLeakDrivers(cfg: Pick<GatewayConfig, 'leakDetectors' | 'cutoffValves'>, unitOf: UnitOf, clock: Clock): LeakDrivers {
  const detectorCfgs = cfg.leakDetectors ?? [];
  const cutoffCfgs = cfg.cutoffValves ?? [];
  const detectors = detectorCfgs.map((d) => buildDetector(d, unitOf, clock));
  const cutoffs = cutoffCfgs.map(
    (c) =>
      new ModbusCutoffValve({
        id: c.id,
        unit: unitOf(c.bus, c.unit, c.id),
        closeCoil: c.coil,
        ...(c.closePulseMs !== undefined ? { closePulseMs: c.closePulseMs } : {}),
        feedback: c.feedback,
        pollMs: c.pollMs,
        clock,
      }),
  );
  return {
    detectors,
    cutoffs,
    channels: detectorCfgs.flatMap((d) => d.channels.map((c) => ({ id: c.id, controller: d.id, ...(c.location ? { location: c.location } : {}) }))),
    cutoffLocations: Object.fromEntries(cutoffCfgs.filter((c) => c.location).map((c) => [c.id, c.location as string])),
  };
}

function buildDetector(d: LeakDetectorConfig, unitOf: UnitOf, clock: Clock): ModbusLeakDetector {
  let map;
  try {
    map = leakDetectorMap(d.preset);
  } catch (err) {
    throw new Error(`leak detector ${d.id}: ${(err as Error).message}`);
  }
  const channels = d.channels.map((c) => {
    const regs = c.lelRegister !== undefined ? { lelRegister: c.lelRegister } : channelRegisters(map, c.channel);
    const statusRegister = d.noStatus ? undefined : (c.statusRegister ?? (c.lelRegister !== undefined ? undefined : regs.statusRegister));
    return { device: c.id, lelRegister: regs.lelRegister, ...(statusRegister !== undefined ? { statusRegister } : {}) };
  });
  return new ModbusLeakDetector({
    id: d.id,
    unit: unitOf(d.bus, d.unit, d.id),
    channels,
    registerType: d.registerType ?? map.registerType,
    lelScale: d.lelScale ?? map.lelScale,
    lelOffset: d.lelOffset ?? map.lelOffset,
    level1Lel: d.level1Lel,
    level2Lel: d.level2Lel,
    ...((d.bits ?? map.bits) ? { bits: d.bits ?? map.bits } : {}),
    pollMs: d.pollMs,
    clock,
  });
}
