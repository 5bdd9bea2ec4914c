/**
 * Starts the station's MQTT side from the config: the embedded broker, the
 * upstream relay over its SQLite outbox, the leak interlock and the angle-valve
 * monitor, wired together (gateway/mqtt/wiring.ts). Absent config = none of it, not even loaded.
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../protocols/clock.ts';
import type { LogFactory } from '../log.ts';
import type { GatewayConfig } from '../config/config.ts';
import type { StationBroker } from '../mqtt/broker.ts';
import type { UpstreamRelay } from '../mqtt/relay.ts';
import type { LeakService } from '../leak/service.ts';
import type { AngleValveMonitor, QuarantinePort } from '../leak/angle-valve.ts';

export interface StationMqtt {
  broker: StationBroker;
  relay?: UpstreamRelay;
  leak: LeakService;
  valves: AngleValveMonitor;
  stop(): Promise<void>;
}

export async function startStationMqtt(cfg: GatewayConfig, deps: { db: Database.Database; clock: Clock; logs: LogFactory; registry: QuarantinePort }): Promise<StationMqtt | undefined> {
  const m = cfg.mqtt;
  if (!m) return undefined;
  // Loaded only when configured: the broker (aedes, ws) and the client (mqtt.js) cost ~0.2 s of start and
  // several MB that a station without MQTT would carry for nothing (issue 14).
  const [{ startStationBroker }, { Outbox }, { UpstreamRelay }, { wireStationMqtt, mqttCutoffActuator }, { LeakService }, { AngleValveMonitor }] = await Promise.all([
    import('../mqtt/broker.ts'),
    import('../mqtt/outbox.ts'),
    import('../mqtt/relay.ts'),
    import('../mqtt/wiring.ts'),
    import('../leak/service.ts'),
    import('../leak/angle-valve.ts'),
  ]);
  const { clock, logs } = deps;
  const broker = await startStationBroker({ station: cfg.station.code, broker: m.broker }, { clock, log: logs('mqtt.broker') });
  let relay: UpstreamRelay | undefined;
  if (m.upstream) {
    const outbox = new Outbox(deps.db, { telemetryCap: m.outbox.telemetryCap, clock });
    relay = new UpstreamRelay({ station: cfg.station.code, upstream: m.upstream }, { outbox, clock, log: logs('mqtt.relay') });
    relay.start();
  }
  const devicesOf = (kind: string) => m.broker.devices.filter((d) => d.kind === kind);
  const cutoffs = devicesOf('cutoff-valve').map((d) => d.id);
  const leak = new LeakService({
    clock,
    settings: { detectors: devicesOf('leak-detector').map((d) => d.id), cutoffs, ...cfg.leak },
    actuators: Object.fromEntries(cutoffs.map((id) => [id, mqttCutoffActuator(broker, id)])),
    locations: Object.fromEntries(m.broker.devices.filter((d) => d.location).map((d) => [d.id, d.location as string])),
    log: logs('leak'),
  });
  leak.start();
  const valves = new AngleValveMonitor({ clock, registry: deps.registry });
  const unwire = wireStationMqtt({ broker, relay, leak, valves });
  await broker.setGatewayState({ state: 'online', station: cfg.station.code, at: new Date(clock.wall()).toISOString() }).catch(() => undefined);
  return {
    broker,
    relay,
    leak,
    valves,
    async stop() {
      unwire();
      leak.stop();
      await relay?.stop().catch(() => undefined);
      await broker.close().catch(() => undefined);
    },
  };
}
