/**
 * The `mqtt` and `leak` sections of the gateway config (issue 4). The lead embeds
 * `mqttSchema` / `leakSchema` into the main config schema; defaults say where they come from.
 */
import { z } from 'zod';
import { PASSWORD_HASH_PATTERN } from './password.ts';

const id = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, - and _ only (max 32)');

export const deviceKinds = ['angle-valve', 'leak-detector', 'cutoff-valve'] as const;
export type DeviceKind = (typeof deviceKinds)[number];

export const mqttDeviceSchema = z.object({
  id,
  kind: z.enum(deviceKinds),
  /** `scrypt$N$salt$hash` from `fillgate mqtt hash-password`: never the password itself. */
  passwordHash: z.string().regex(PASSWORD_HASH_PATTERN, 'a hash from `fillgate mqtt hash-password` (scrypt$N$salt$hash)'),
  /** Where the device is (a post id, or "yard"): leak alarms name it. */
  location: z.string().optional(),
});
export type MqttDeviceConfig = z.infer<typeof mqttDeviceSchema>;

export const penaltySchema = z.object({
  /** Refused publishes/subscribes within windowMs that put a client id in the penalty box. */
  maxRejections: z.number().int().min(1).default(3),
  windowMs: z.number().min(100).default(60_000),
  /** First refusal period; doubles on each new offence up to maxMs. */
  baseMs: z.number().min(10).default(5_000),
  maxMs: z.number().min(10).default(600_000),
});

export const brokerSchema = z.object({
  /** Station LAN address; 0.0.0.0 listens on every interface. */
  host: z.string().default('0.0.0.0'),
  /** 0 = ephemeral (tests). */
  port: z.number().int().min(0).max(65535).default(1883),
  tls: z.object({ port: z.number().int().min(0).max(65535).default(8883), certFile: z.string(), keyFile: z.string(), caFile: z.string().optional() }).optional(),
  ws: z.object({ port: z.number().int().min(0).max(65535).default(8080) }).optional(),
  devices: z.array(mqttDeviceSchema).default([]),
  /**
   * Where aedes runs (issue 14 point 5): `main` = on the posts' thread (the default: measured
   * faster, gateway/mqtt/README.md); `worker` = its own thread (broker-thread.ts), so MQTT
   * parsing, routing and validation stay off the posts' event loop.
   */
  thread: z.enum(['worker', 'main']).default('main'),
  penalty: penaltySchema.default({ maxRejections: 3, windowMs: 60_000, baseMs: 5_000, maxMs: 600_000 }),
});
export type BrokerConfig = z.infer<typeof brokerSchema>;

export const upstreamSchema = z.object({
  /** mqtt://, mqtts://, ws:// or wss:// */
  url: z.string().regex(/^(mqtts?|wss?):\/\//, 'mqtt://host:1883, mqtts://host:8883, ws:// or wss://'),
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
  username: z.string().optional(),
  /** The gateway's own upstream credential (the upstream operator issues it). */
  password: z.string().optional(),
  caFile: z.string().optional(),
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
  rejectUnauthorized: z.boolean().default(true),
  /** A dead link is noticed after up to 1.5 × keep-alive (domain.md 7): keep it short. */
  keepaliveSec: z.number().int().min(5).max(600).default(30),
  reconnectMs: z.number().min(100).default(2_000),
  /** QoS1 messages sent but not yet PUBACKed (engineering.md: bounded window). */
  window: z.number().int().min(1).max(1000).default(50),
});
export type UpstreamConfig = z.infer<typeof upstreamSchema>;

export const outboxSchema = z.object({
  /** Telemetry rows kept while the upstream is down; oldest dropped first and counted. */
  telemetryCap: z.number().int().min(10).default(20_000),
});

export const mqttSchema = z.object({
  broker: brokerSchema,
  upstream: upstreamSchema.optional(),
  outbox: outboxSchema.default({ telemetryCap: 20_000 }),
});
export type MqttConfig = z.infer<typeof mqttSchema>;

export const leakSchema = z.object({
  /** A detector with no reading for this long is itself an alarm (issue 4 point 3). */
  silentAfterMs: z.number().min(1000).default(30_000),
  /** Wait this long for the cut-off valve's acknowledgement before retrying (CJ/T 394 valves close in seconds). */
  cutoffAckTimeoutMs: z.number().min(100).default(5_000),
  /** Close commands sent before the "no acknowledgement" alarm; retries continue after it. */
  cutoffRetries: z.number().int().min(0).default(3),
});
export type LeakSettings = z.infer<typeof leakSchema>;
