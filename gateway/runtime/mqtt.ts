/**
 * Starts the station's MQTT side from the config: the embedded broker, the
 * upstream relay over its SQLite outbox and the angle-valve monitor, wired
 * together with the station's leak interlock (leak.ts; MQTT cut-off valves
 * become its actuators here) (gateway/mqtt/wiring.ts). Absent config = none of it.
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../protocols/clock.ts';
import type { LogFactory } from '../log.ts';
import type { GatewayConfig } from '../config/config.ts';
import { startStationBroker, type StationBrokerPort } from '../mqtt/broker.ts';
import { startBrokerWorker } from '../mqtt/broker-thread.ts';
import { Outbox } from '../mqtt/outbox.ts';
import { UpstreamRelay } from '../mqtt/relay.ts';
import { wireStationMqtt, mqttCutoffActuator } from '../mqtt/wiring.ts';
import { LeakService } from '../leak/service.ts';
import { AngleValveMonitor, type QuarantinePort } from '../leak/angle-valve.ts';

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
  const { clock, logs } = deps;
  const brokerCfg = { station: cfg.station.code, broker: m.broker };
  // On this thread unless the config says worker (mqtt.broker.thread; gateway/mqtt/README.md).
  const broker = m.broker.thread === 'worker' ? await startBrokerWorker(brokerCfg, { log: logs('mqtt.broker') }) : await startStationBroker(brokerCfg, { clock, log: logs('mqtt.broker') });
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
