/**
 * Wires the MQTT pieces together for the runtime: device messages from the embedded broker
 * go to the leak service and the angle-valve monitor; alarms, reset records and valve
 * reports go upstream through the outbox (alarms first) and onto the local alarm topic;
 * device states go upstream as capped telemetry. A device's QoS 1 PUBACK waits for the
 * outbox's group commit of what its message caused. Returns a function that undoes it.
 */
import type { CommandEnvelope } from './topics.ts';
import type { StationBrokerPort as StationBroker } from './broker.ts';
import type { UpstreamRelay } from './relay.ts';
import type { LeakService, CutoffActuator } from '../leak/service.ts';
import type { AngleValveMonitor } from '../leak/angle-valve.ts';

export interface StationMqtt {
  broker: StationBroker;
  relay?: UpstreamRelay;
  leak?: LeakService;
  valves?: AngleValveMonitor;
}

export function wireStationMqtt(s: StationMqtt): () => void {
  const { broker, relay, leak, valves } = s;
  const topics = broker.topics;
  const offs: (() => void)[] = [];
  if (relay) {
    // Messages are handled synchronously on arrival, so their outbox rows are in the open batch by now.
    broker.ackAfter(() => relay.committed());
    offs.push(() => broker.ackAfter(() => undefined));
  }
  offs.push(
    broker.messages.on((m) => {
      leak?.feed(m);
      valves?.handle(m);
      // Telemetry upstream: the device's own topic and payload, dropped oldest-first when capped.
      if (relay && m.channel === 'state') void relay.send({ topic: topics.deviceTopic(m.device, 'state'), payload: JSON.stringify(m.data), class: 'telemetry' });
    }),
  );
  if (leak) {
    offs.push(
      leak.alarms.on((a) => {
        void relay?.send({ topic: topics.alarm, payload: JSON.stringify(a), class: 'alarm' });
        void broker.publish(topics.alarm, a, { qos: 1 }).catch(() => undefined);
      }),
      leak.resets.on((r) => void relay?.send({ topic: `${topics.root}/leak/reset`, payload: JSON.stringify(r), class: 'record' })),
    );
  }
  if (valves && relay) {
    offs.push(
      valves.reports.on((r) => void relay.send({ topic: topics.deviceTopic(r.valve, 'event'), payload: JSON.stringify(r), class: 'record' })),
    );
  }
  return () => offs.forEach((off) => off());
}

/** A cut-off valve reached over MQTT: each attempt is a `close` command with a fresh transaction id. */
export function mqttCutoffActuator(broker: StationBroker, device: string): CutoffActuator {
  return {
    close: (attempt) => {
      const env: CommandEnvelope = { transaction: `close-${device}-${Date.now()}-${attempt}`, command: 'close' };
      return broker.command(device, env);
    },
  };
}
