/**
 * The `mqttDevices` section of the simulator's station file: MQTT devices declared as data,
 * plus a script of timed events (a leak at one post, a tamper, a detector falling silent, a
 * valve bound to another cylinder). `startSimMqttDevices` connects them all to the broker and
 * runs the script.
 *
 * ```yaml
 * mqttDevices:
 *   station: ST1
 *   devices:
 *     - { kind: leak-detector, id: ld-P1, password: pw1 }
 *     - { kind: angle-valve, id: V1001, password: pw2, boundCode: CYL-1001 }
 *     - { kind: cutoff-valve, id: cv-main, password: pw3, ackDelayMs: 300 }
 *   script:
 *     - { atMs: 5000, device: ld-P1, action: gas, lel: 30 }
 *     - { atMs: 8000, device: V1001, action: bind, code: CYL-9999 }
 * ```
 */
import { z } from 'zod';
import { SimAngleValve, SimCutoffValve, SimLeakDetector, type SimDeviceOptions } from './devices.ts';

export { SimAngleValve, SimCutoffValve, SimLeakDetector } from './devices.ts';

const common = { id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), password: z.string().min(1), stateEveryMs: z.number().min(0).default(5000) };
export const simMqttDeviceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('angle-valve'), ...common, boundCode: z.string().nullable().default(null), batteryPct: z.number().default(95), rssi: z.number().default(-65) }),
  z.strictObject({ kind: z.literal('leak-detector'), ...common }),
  z.strictObject({ kind: z.literal('cutoff-valve'), ...common, ackDelayMs: z.number().min(0).default(200), deaf: z.boolean().default(false) }),
]);

export const simScriptStepSchema = z.strictObject({
  atMs: z.number().min(0),
  device: z.string(),
  action: z.enum(['gas', 'fault', 'clear-fault', 'silent', 'resume', 'tamper', 'decanting', 'bind', 'reopen']),
  lel: z.number().min(0).max(100).optional(),
  code: z.string().nullable().optional(),
});
export type SimScriptStep = z.infer<typeof simScriptStepSchema>;

export const simMqttSchema = z.strictObject({
  station: z.string(),
  devices: z.array(simMqttDeviceSchema).default([]),
  script: z.array(simScriptStepSchema).default([]),
});
export type SimMqttSection = z.input<typeof simMqttSchema>;

export type SimDevice = SimAngleValve | SimLeakDetector | SimCutoffValve;

export interface SimMqttFleet {
  devices: Map<string, SimDevice>;
  get<T extends SimDevice>(id: string): T;
  /** Applies one script action now (also used by the script timer). */
  act(step: SimScriptStep): void;
  stop(): Promise<void>;
}

export async function startSimMqttDevices(section: unknown, url: string): Promise<SimMqttFleet> {
  const cfg = simMqttSchema.parse(section);
  const devices = new Map<string, SimDevice>();
  for (const d of cfg.devices) {
    const o: SimDeviceOptions = { url, station: cfg.station, id: d.id, password: d.password, stateEveryMs: d.stateEveryMs };
    if (d.kind === 'angle-valve') devices.set(d.id, new SimAngleValve(o, d.boundCode, d.batteryPct, d.rssi));
    else if (d.kind === 'leak-detector') devices.set(d.id, new SimLeakDetector(o));
    else {
      const v = new SimCutoffValve(o, d.ackDelayMs);
      v.deaf = d.deaf;
      devices.set(d.id, v);
    }
  }
  await Promise.all([...devices.values()].map((d) => d.start()));
  const get = <T extends SimDevice>(id: string): T => {
    const d = devices.get(id);
    if (!d) throw new Error(`no simulated MQTT device ${id}`);
    return d as T;
  };
  const act = (step: SimScriptStep) => {
    const d = get(step.device);
    switch (step.action) {
      case 'gas': (d as SimLeakDetector).gas(step.lel ?? 0); break;
      case 'fault': (d as SimLeakDetector).setFault(true); break;
      case 'clear-fault': (d as SimLeakDetector).setFault(false); break;
      case 'silent': d.silent = true; break;
      case 'resume': d.silent = false; d.publishState(); break;
      case 'tamper': (d as SimAngleValve).doTamper(); break;
      case 'decanting': (d as SimAngleValve).doDecant(); break;
      case 'bind': (d as SimAngleValve).bind(step.code ?? null); break;
      case 'reopen': (d as SimCutoffValve).reopenByHand(); break;
    }
  };
  const timers = cfg.script.map((s) => setTimeout(() => act(s), s.atMs));
  return {
    devices,
    get,
    act,
    async stop() {
      timers.forEach(clearTimeout);
      await Promise.all([...devices.values()].map((d) => d.stop()));
    },
  };
}
