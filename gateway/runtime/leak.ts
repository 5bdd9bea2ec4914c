/**
 * The station's one leak interlock (gateway/leak/service.ts), fed by the MQTT detectors and
 * cut-off valves (mqtt.ts adds their actuators once the broker is up) and by the Modbus ones
 * (leak-devices.ts): a Modbus reading is the same `reading` input as an MQTT state, a Modbus
 * controller that stops answering emits nothing and goes silent after leak.silentAfterMs like
 * a silent MQTT detector, and a Modbus cut-off valve is one more actuator whose feedback
 * acknowledges the close. Absent when the config has no leak device and no MQTT section.
 */
import type { Clock } from '../../protocols/clock.ts';
import type { GatewayConfig } from '../config/config.ts';
import type { LogFactory } from '../log.ts';
import { LeakService } from '../leak/service.ts';
import type { LeakDrivers } from './leak-devices.ts';

export interface StationLeak {
  service: LeakService;
  stop(): void;
}

export function startStationLeak(cfg: GatewayConfig, deps: { clock: Clock; logs: LogFactory; drivers: LeakDrivers }): StationLeak | undefined {
  const { drivers } = deps;
  const mqttDevices = cfg.mqtt?.broker.devices ?? [];
  if (!cfg.mqtt && drivers.channels.length === 0 && drivers.cutoffs.length === 0) return undefined;
  const log = deps.logs('leak');
  const mqttOf = (kind: string) => mqttDevices.filter((d) => d.kind === kind).map((d) => d.id);
  const service = new LeakService({
    clock: deps.clock,
    settings: {
      detectors: [...mqttOf('leak-detector'), ...drivers.channels.map((c) => c.id)],
      cutoffs: [...mqttOf('cutoff-valve'), ...drivers.cutoffs.map((c) => c.id)],
      silentAfterMs: cfg.leak.silentAfterMs,
      cutoffAckTimeoutMs: cfg.leak.cutoffAckTimeoutMs,
      cutoffRetries: cfg.leak.cutoffRetries,
    },
    actuators: Object.fromEntries(drivers.cutoffs.map((v) => [v.id, { close: () => v.close() }])),
    locations: {
      ...Object.fromEntries(mqttDevices.filter((d) => d.location).map((d) => [d.id, d.location as string])),
      ...Object.fromEntries(drivers.channels.filter((c) => c.location).map((c) => [c.id, c.location as string])),
      ...drivers.cutoffLocations,
    },
    log,
  });
  const offs = [
    ...drivers.detectors.map((d) => d.readings.on((r) => service.apply({ type: 'reading', device: r.device, lel: r.lel, level: r.level, fault: r.fault, at: r.at }))),
    ...drivers.cutoffs.map((v) => v.states.on((s) => service.apply({ type: 'cutoff', device: s.device, state: s.state, at: s.at }))),
    // After a recorded reset, a held trip coil is released so the valve can be reopened by hand.
    service.resets.on(() => {
      for (const v of drivers.cutoffs) v.release().catch((err) => log.error({ device: v.id, err: String(err) }, 'cut-off trip coil not released after the reset'));
    }),
  ];
  service.start();
  return {
    service,
    stop() {
      offs.forEach((off) => off());
      service.stop();
    },
  };
}
