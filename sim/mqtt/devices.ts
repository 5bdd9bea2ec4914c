/**
 * Simulated MQTT field devices: smart angle valves, leak detectors and emergency cut-off
 * valves, each a real MQTT client of the gateway's broker with its own credentials. Like real
 * firmware, they know their own topics (fillgate/<station>/dev/<id>/state|event|reply|cmd)
 * and payloads; nothing here imports the gateway (sim/ imports only protocols/ and npm).
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface SimDeviceOptions {
  url: string;
  station: string;
  id: string;
  password: string;
  /** Periodic state publish (ms); 0 = only on change. */
  stateEveryMs: number;
}

abstract class SimMqttDevice {
  protected client?: MqttClient;
  private timer?: NodeJS.Timeout;
  /** While silent the device publishes nothing (a detector "falling silent"). */
  silent = false;
  published = 0;

  constructor(protected o: SimDeviceOptions) {}

  protected topic(channel: 'state' | 'event' | 'reply' | 'cmd'): string {
    return `fillgate/${this.o.station}/dev/${this.o.id}/${channel}`;
  }

  abstract state(): Record<string, unknown>;

  get id(): string {
    return this.o.id;
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.o.url, {
      username: this.o.id,
      password: this.o.password,
      clientId: `${this.o.id}:sim`,
      reconnectPeriod: 500,
    });
    client.on('error', () => undefined);
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('connect', () => {
      this.onConnect();
      this.publishState();
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      setTimeout(() => reject(new Error(`sim device ${this.o.id} could not connect`)), 10_000).unref();
    });
    if (this.o.stateEveryMs > 0) this.timer = setInterval(() => this.publishState(), this.o.stateEveryMs);
  }

  protected onConnect(): void {}
  protected onMessage(_topic: string, _payload: Buffer): void {}

  publish(channel: 'state' | 'event' | 'reply', body: unknown, qos: 0 | 1 = 1): void {
    if (this.silent || !this.client) return;
    this.published++;
    this.client.publish(this.topic(channel), typeof body === 'string' ? body : JSON.stringify(body), { qos });
  }

  publishState(): void {
    this.publish('state', { ...this.state(), ts: Date.now() });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.client?.endAsync(true);
  }
}

export class SimAngleValve extends SimMqttDevice {
  valve: 'open' | 'closed' = 'closed';
  tamper = false;
  decanting = false;
  constructor(o: SimDeviceOptions, public boundCode: string | null, public batteryPct = 95, public rssi = -65) {
    super(o);
  }
  state() {
    return { valve: this.valve, boundCode: this.boundCode, tamper: this.tamper, decanting: this.decanting, batteryPct: this.batteryPct, rssi: this.rssi };
  }
  doTamper(detail = 'shroud opened'): void {
    this.tamper = true;
    this.publish('event', { event: 'tamper', boundCode: this.boundCode, detail });
    this.publishState();
  }
  doDecant(detail = 'outflow while not on a filling post'): void {
    this.decanting = true;
    this.publish('event', { event: 'decanting', boundCode: this.boundCode, detail });
    this.publishState();
  }
  bind(code: string | null): void {
    this.boundCode = code;
    this.publish('event', code === null ? { event: 'unbound' } : { event: 'bound', boundCode: code });
    this.publishState();
  }
}

export class SimLeakDetector extends SimMqttDevice {
  lel = 0;
  level: 0 | 1 | 2 = 0;
  fault = false;
  state() {
    return { lel: this.lel, level: this.level, fault: this.fault };
  }
  /** Gas at this %LEL; the level follows GB/T 50493 set-points (25 / 50 %LEL). */
  gas(lel: number): void {
    this.lel = lel;
    this.level = lel >= 50 ? 2 : lel >= 25 ? 1 : 0;
    this.publishState();
  }
  setFault(fault: boolean): void {
    this.fault = fault;
    this.publishState();
  }
}

/** A CJ/T 394 cut-off valve: closes on command after ackDelayMs and replies; reopened only by hand. */
export class SimCutoffValve extends SimMqttDevice {
  position: 'open' | 'closed' | 'moving' = 'open';
  closeCommands = 0;
  /** A valve whose controller is dead: takes commands, never answers. */
  deaf = false;
  constructor(o: SimDeviceOptions, public ackDelayMs = 200) {
    super(o);
  }
  state() {
    return { state: this.position };
  }
  protected override onConnect(): void {
    this.client!.subscribe(this.topic('cmd'), { qos: 1 });
  }
  protected override onMessage(_topic: string, payload: Buffer): void {
    let cmd: { transaction?: string; command?: string };
    try {
      cmd = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (this.deaf || !cmd.transaction) return;
    if (cmd.command !== 'close') {
      this.publish('reply', { transaction: cmd.transaction, status: 'ok', data: { state: this.position } });
      return;
    }
    this.closeCommands++;
    if (this.position === 'closed') {
      this.publish('reply', { transaction: cmd.transaction, status: 'ok', data: { state: 'closed' } });
      return;
    }
    this.position = 'moving';
    this.publishState();
    setTimeout(() => {
      this.position = 'closed';
      this.publishState();
      this.publish('reply', { transaction: cmd.transaction, status: 'ok', data: { state: 'closed' } });
    }, this.ackDelayMs);
  }
  reopenByHand(): void {
    this.position = 'open';
    this.publishState();
  }
}
