/**
 * The MQTT contract (issue 4 point 2): one typed map from topic to payload, with a zod
 * validator for everything a device may send and the shapes the gateway publishes.
 * Commands and replies share one envelope with a transaction id and `status: ok | error`
 * (the zigbee2mqtt bridge pattern, engineering.md example 9). The table is in README.md.
 */
import { z } from 'zod';
import type { DeviceKind } from './config.ts';

const text = z.string().min(1).max(128);
const ts = z.number().int().nonnegative().optional();

/** Smart angle valve (智能角阀) telemetry: state of the valve on one cylinder. */
export const angleValveStateSchema = z.strictObject({
  valve: z.enum(['open', 'closed']),
  /** Cylinder code the valve is bound to (null = unbound). */
  boundCode: text.nullable(),
  tamper: z.boolean(),
  /** The valve's own "illegal decanting" suspicion (防止非法倒气). */
  decanting: z.boolean(),
  batteryPct: z.number().min(0).max(100),
  /** Radio signal strength, dBm. */
  rssi: z.number().min(-150).max(0),
  ts,
});
export type AngleValveState = z.infer<typeof angleValveStateSchema>;

export const angleValveEventSchema = z.strictObject({
  event: z.enum(['tamper', 'decanting', 'bound', 'unbound']),
  boundCode: text.nullable().optional(),
  detail: z.string().max(256).optional(),
  ts,
});
export type AngleValveEvent = z.infer<typeof angleValveEventSchema>;

/** Gas detector: %LEL and alarm level (GB/T 50493: level 1 ≤ 25 %LEL, level 2 ≤ 50 %LEL). */
export const leakDetectorStateSchema = z.strictObject({
  lel: z.number().min(0).max(100),
  level: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  fault: z.boolean(),
  faultCode: z.string().max(64).optional(),
  ts,
});
export type LeakDetectorState = z.infer<typeof leakDetectorStateSchema>;

export const cutoffStates = ['open', 'closed', 'moving', 'fault'] as const;
export type CutoffState = (typeof cutoffStates)[number];
export const cutoffStateSchema = z.strictObject({ state: z.enum(cutoffStates), ts });

/** Gateway → device. The only command devices get is a cut-off close (reopening is manual, CJ/T 394). */
export const commandEnvelopeSchema = z.strictObject({
  transaction: text,
  command: z.enum(['close', 'status']),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type CommandEnvelope = z.infer<typeof commandEnvelopeSchema>;

/** Device → gateway reply to a command. */
export const replyEnvelopeSchema = z.discriminatedUnion('status', [
  z.strictObject({ transaction: text, status: z.literal('ok'), data: z.record(z.string(), z.unknown()).optional() }),
  z.strictObject({ transaction: text, status: z.literal('error'), error: z.string().max(256) }),
]);
export type ReplyEnvelope = z.infer<typeof replyEnvelopeSchema>;

/** Gateway state, retained; the last will publishes `{"state":"offline"}`. */
export const gatewayStateSchema = z.object({
  state: z.enum(['online', 'offline']),
  station: z.string().optional(),
  locked: z.boolean().optional(),
  lockReasons: z.array(z.string()).optional(),
  backlog: z.object({ count: z.number(), oldestAgeMs: z.number(), bytes: z.number() }).optional(),
  at: z.string().optional(),
});
export type GatewayState = z.infer<typeof gatewayStateSchema>;

export const postStatusSchema = z.object({ post: text, state: text, cylinderCode: z.string().optional(), locked: z.boolean(), at: z.string() });
export type PostStatus = z.infer<typeof postStatusSchema>;

export const alarmKinds = ['leak', 'detector_silent', 'detector_fault', 'cutoff_no_ack', 'cutoff_closed', 'tamper', 'decanting', 'valve_code_mismatch', 'overfill', 'unchecked_cylinder', 'unauthorised_fill', 'decant_hold'] as const;
export type AlarmKind = (typeof alarmKinds)[number];
export const alarmSchema = z.object({
  /** Unique id: the upstream's deduplication key. */
  id: text,
  kind: z.enum(alarmKinds),
  active: z.boolean(),
  level: z.number().int().min(0).max(2).optional(),
  device: z.string().optional(),
  location: z.string().optional(),
  detail: z.string().optional(),
  at: z.string(),
});
export type Alarm = z.infer<typeof alarmSchema>;

/** Fill outcome: the FillAttempt of gateway/records/types.ts; attemptId is the upstream's idempotency key. */
export const fillOutcomeSchema = z.object({ attemptId: text, station: text, post: text, outcome: text }).passthrough();

/** What a device of each kind may publish, per channel. */
const inboundSchemas = {
  'angle-valve': { state: angleValveStateSchema, event: angleValveEventSchema },
  'leak-detector': { state: leakDetectorStateSchema },
  'cutoff-valve': { state: cutoffStateSchema, reply: replyEnvelopeSchema },
} as const;

export type DeviceChannel = 'state' | 'event' | 'reply';

export type DeviceMessage =
  | { kind: 'angle-valve'; device: string; channel: 'state'; data: AngleValveState }
  | { kind: 'angle-valve'; device: string; channel: 'event'; data: AngleValveEvent }
  | { kind: 'leak-detector'; device: string; channel: 'state'; data: LeakDetectorState }
  | { kind: 'cutoff-valve'; device: string; channel: 'state'; data: z.infer<typeof cutoffStateSchema> }
  | { kind: 'cutoff-valve'; device: string; channel: 'reply'; data: ReplyEnvelope };

export type Validated = { ok: true; message: DeviceMessage } | { ok: false; reason: string };

/** Topic builders and parsers for one station. Device topics: fillgate/<station>/dev/<id>/<channel>. */
export class TopicMap {
  readonly root: string;
  constructor(readonly station: string) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(station)) throw new Error(`bad station code for topics: ${station}`);
    this.root = `fillgate/${station}`;
  }
  devicePrefix(device: string): string {
    return `${this.root}/dev/${device}/`;
  }
  deviceTopic(device: string, channel: DeviceChannel | 'cmd'): string {
    return `${this.root}/dev/${device}/${channel}`;
  }
  get gatewayState(): string {
    return `${this.root}/gateway/state`;
  }
  /** Commands from upstream to the gateway (the relay subscribes here). */
  get gatewayCmd(): string {
    return `${this.root}/gateway/cmd`;
  }
  postStatus(post: string): string {
    return `${this.root}/post/${post}/status`;
  }
  fillOutcome(post: string): string {
    return `${this.root}/fill/${post}/outcome`;
  }
  get alarm(): string {
    return `${this.root}/alarm`;
  }

  /** Splits a device topic; undefined for anything else. */
  parseDeviceTopic(topic: string): { device: string; channel: string } | undefined {
    const parts = topic.split('/');
    if (parts.length !== 5 || parts[0] !== 'fillgate' || parts[1] !== this.station || parts[2] !== 'dev') return undefined;
    return { device: parts[3], channel: parts[4] };
  }

  /** Validates one inbound device publish: right channel for the kind, JSON, schema. */
  validateInbound(kind: DeviceKind, device: string, channel: string, payload: Buffer | string): Validated {
    const schemas = inboundSchemas[kind] as Record<string, z.ZodType>;
    const schema = schemas[channel];
    if (!schema) return { ok: false, reason: `channel "${channel}" not allowed for ${kind}` };
    let json: unknown;
    try {
      json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
    } catch {
      return { ok: false, reason: 'payload is not JSON' };
    }
    const r = schema.safeParse(json);
    if (!r.success) return { ok: false, reason: summariseIssues(r.error.issues) };
    return { ok: true, message: { kind, device, channel, data: r.data } as DeviceMessage };
  }
}

/** Validation errors shown in a refusal: the first few, each cut short, and how many there were (issue 13). */
export const MAX_REASON_ISSUES = 3;
const MAX_ISSUE_CHARS = 120;

/**
 * A refusal's reason, bounded whatever the payload: one payload with 5,000 unknown keys used to
 * make a 108,780-character log line. At most MAX_REASON_ISSUES issues of at most MAX_ISSUE_CHARS
 * each, then "(N issues in all)".
 */
export function summariseIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const shown = issues.slice(0, MAX_REASON_ISSUES).map((i) => cut(`${i.path.slice(0, 4).map(String).join('.') || '(root)'}: ${i.message}`, MAX_ISSUE_CHARS));
  const more = issues.length > MAX_REASON_ISSUES ? ` (${issues.length} issues in all)` : '';
  return shown.join('; ') + more;
}

/** Text cut to `max` characters, with an ellipsis and the full length when cut. */
export function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}
