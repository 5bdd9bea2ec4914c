/**
 * Runs the leak interlock: feeds it detector readings and cut-off valve states from MQTT
 * devices and Modbus drivers alike, ticks it, and carries out its outputs: the station lock
 * (fill controllers stop every fill and refuse new ones while `locked`), cut-off close
 * commands through injected actuators, alarms, and recorded supervisor resets.
 * Works with the upstream down: nothing here waits for the network.
 */
import { randomUUID } from 'node:crypto';
import { Signal } from '../../protocols/signal.ts';
import { errorMessage } from '../../protocols/errors.ts';
import type { Clock } from '../../protocols/clock.ts';
import { silentLogs, type Logger } from '../log.ts';
import type { Alarm, DeviceMessage } from '../mqtt/topics.ts';
import { LeakInterlock, type LeakInput, type LeakOutput, type LeakSettingsInput } from './interlock.ts';

export interface CutoffActuator {
  /** Sends one close command; a rejection is logged and the interlock's retry covers it. */
  close(attempt: number): Promise<void>;
}

export interface LeakServiceDeps {
  clock: Clock;
  settings: LeakSettingsInput;
  actuators: Record<string, CutoffActuator>;
  /** Device id → where it is (post id, "yard"), named in alarms. */
  locations?: Record<string, string>;
  log?: Logger;
  tickMs?: number;
}

export interface ResetRecord {
  badge: string;
  at: number;
  wallAt: string;
}

export class LeakService {
  readonly interlock: LeakInterlock;
  readonly lock = new Signal<{ on: boolean; reasons: string[] }>();
  readonly alarms = new Signal<Alarm>();
  readonly resets = new Signal<ResetRecord>();
  actuatorErrors = 0;
  private timer?: NodeJS.Timeout;
  private log: Logger;

  constructor(private deps: LeakServiceDeps) {
    this.interlock = new LeakInterlock(deps.settings, deps.clock.now());
    this.log = deps.log ?? silentLogs('leak');
  }

  get locked(): boolean {
    return this.interlock.locked;
  }

  /** An actuator that exists only later (an MQTT cut-off valve once the broker is up). */
  addActuator(device: string, actuator: CutoffActuator): void {
    this.deps.actuators[device] = actuator;
  }

  start(): void {
    const tick = () => {
      this.apply({ type: 'tick', at: this.deps.clock.now() });
      this.timer = setTimeout(tick, this.deps.tickMs ?? 500);
    };
    this.timer = setTimeout(tick, this.deps.tickMs ?? 500);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** MQTT device messages: leak-detector states, cut-off valve states and replies. Others are ignored. */
  feed(msg: DeviceMessage): void {
    const at = this.deps.clock.now();
    if (msg.kind === 'leak-detector') {
      this.apply({ type: 'reading', device: msg.device, lel: msg.data.lel, level: msg.data.level, fault: msg.data.fault, at });
    } else if (msg.kind === 'cutoff-valve' && msg.channel === 'state') {
      this.apply({ type: 'cutoff', device: msg.device, state: msg.data.state, at });
    } else if (msg.kind === 'cutoff-valve' && msg.channel === 'reply' && msg.data.status === 'ok' && msg.data.data?.state === 'closed') {
      this.apply({ type: 'cutoff', device: msg.device, state: 'closed', at });
    }
  }

  /** Any input, e.g. readings from the Modbus drivers. */
  apply(input: LeakInput): LeakOutput[] {
    const outputs = this.interlock.apply(input);
    for (const o of outputs) this.carryOut(o);
    return outputs;
  }

  /** A supervisor's reset; refused (with the reasons) while any detector is not clear. */
  reset(badge: string): { ok: boolean; reasons: string[] } {
    const outs = this.apply({ type: 'reset', badge, at: this.deps.clock.now() });
    const refused = outs.find((o) => o.type === 'resetRefused');
    return refused && refused.type === 'resetRefused' ? { ok: false, reasons: refused.reasons } : { ok: true, reasons: [] };
  }

  private carryOut(o: LeakOutput): void {
    const wallAt = new Date(this.deps.clock.wall()).toISOString();
    switch (o.type) {
      case 'lock':
        this.log.warn({ on: o.on, reasons: o.reasons }, o.on ? 'station locked: leak interlock' : 'leak lock reset');
        this.lock.emit({ on: o.on, reasons: o.reasons });
        break;
      case 'closeCutoff': {
        const actuator = this.deps.actuators[o.device];
        if (!actuator) break;
        actuator.close(o.attempt).catch((err) => {
          this.actuatorErrors++;
          this.log.error({ device: o.device, attempt: o.attempt, err: errorMessage(err) }, 'cut-off close command failed');
        });
        break;
      }
      case 'alarm':
        this.alarms.emit({
          id: randomUUID(),
          kind: o.kind,
          active: o.active,
          level: o.level,
          device: o.device,
          location: this.deps.locations?.[o.device],
          detail: o.detail,
          at: wallAt,
        });
        break;
      case 'resetRecorded':
        this.log.warn({ badge: o.badge }, 'leak lock reset by supervisor');
        this.resets.emit({ badge: o.badge, at: o.at, wallAt });
        break;
      case 'resetRefused':
        this.log.warn({ badge: o.badge, reasons: o.reasons }, 'leak lock reset refused');
        break;
    }
  }
}
