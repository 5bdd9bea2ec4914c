/**
 * Starts the station's MQTT side from the config: the embedded broker, the
 * upstream relay over its SQLite outbox and the angle-valve monitor, wired
 * together with the station's leak interlock (leak.ts; MQTT cut-off valves
 * become its actuators here) (gateway/mqtt/wiring.ts). Absent config = none of it, not even
 * loaded (the broker, ws and mqtt.js cost ~0.2 s of start: issue 14).
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../protocols/clock.ts';
import type { LogFactory } from '../log.ts';
import type { GatewayConfig } from '../config/config.ts';
import type { StationBrokerPort } from '../mqtt/broker.ts';
import type { UpstreamRelay } from '../mqtt/relay.ts';
import type { LeakService } from '../leak/service.ts';
import type { AngleValveMonitor, QuarantinePort } from '../leak/angle-valve.ts';

export interface StationMqtt {
  broker: StationBrokerPort;
  relay?: UpstreamRelay;
  leak: LeakService;
  valves: AngleValveMonitor;
  stop(): Promise<void>;
}

export async function startStationMqtt(cfg: GatewayConfig, deps: { db: Database.Database; clock: Clock; logs: LogFactory; registry: QuarantinePort; leak: LeakService | undefined }): Promise<StationMqtt | undefined> {
  const m = cfg.mqtt;
  if (!m) return undefined;
  if (!deps.leak) throw new Error('the leak interlock must be started before MQTT (runtime/leak.ts)');
  // Loaded only when configured: the broker (aedes, ws) and the client (mqtt.js) cost ~0.2 s of start and
  // several MB that a station without MQTT would carry for nothing (issue 14).
  const [{ startStationBroker }, { Outbox }, { UpstreamRelay }, { wireStationMqtt, mqttCutoffActuator }, { AngleValveMonitor }] = await Promise.all([
    import('../mqtt/broker.ts'),
    import('../mqtt/outbox.ts'),
    import('../mqtt/relay.ts'),
    import('../mqtt/wiring.ts'),
    import('../leak/angle-valve.ts'),
  ]);
  const { clock, logs } = deps;
  // The broker's worker module only when it is asked for (it starts the worker thread).
  const startBrokerWorker = m.broker.thread === 'worker' ? (await import('../mqtt/broker-thread.ts')).startBrokerWorker : undefined;
  const brokerCfg = { station: cfg.station.code, broker: m.broker };
  // On this thread unless the config says worker (mqtt.broker.thread; gateway/mqtt/README.md).
  const broker = startBrokerWorker ? await startBrokerWorker(brokerCfg, { log: logs('mqtt.broker') }) : await startStationBroker(brokerCfg, { clock, log: logs('mqtt.broker') });
  let relay: UpstreamRelay | undefined;
  if (m.upstream) {
    const outbox = new Outbox(deps.db, { telemetryCap: m.outbox.telemetryCap, clock });
    relay = new UpstreamRelay({ station: cfg.station.code, upstream: m.upstream }, { outbox, clock, log: logs('mqtt.relay') });
    relay.start();
  }
  const leak: LeakService = deps.leak;
  for (const d of m.broker.devices) if (d.kind === 'cutoff-valve') leak.addActuator(d.id, mqttCutoffActuator(broker, d.id));
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
      await relay?.stop().catch(() => undefined);
      await broker.close().catch(() => undefined);
    },
  };
}
