/**
 * The station's gateway configuration: one YAML file, this schema is the single
 * source of truth for its types, defaults and validation. Every default below
 * says where its number comes from (../shared/domain.md unless stated).
 */
import { z } from 'zod';

const id = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, - and _ only (max 32)');
const linkUrl = z.string().regex(/^(serial|tcp):\/\//, 'a stream link: serial:///dev/ttyUSB0?baud=9600 or tcp://host:port');
const busUrl = z
  .string()
  .regex(/^modbus-(tcp|rtu|rtu-tcp):\/\//, 'a Modbus bus: modbus-tcp://host:502, modbus-rtu:///dev/ttyUSB0?baud=9600 or modbus-rtu-tcp://host:4001');

export const busSchema = z.object({
  url: busUrl,
  /** Silence between two requests on the line (ms); RTU slaves need ≥ 3.5 characters. */
  gapMs: z.number().min(0).max(1000).optional(),
  timeoutMs: z.number().min(10).max(10_000).default(300),
  retries: z.number().int().min(0).max(5).default(1),
  /** Consecutive failures after which a unit is set aside so it cannot starve the bus (domain.md 7). */
  setAsideAfter: z.number().int().min(1).default(3),
  setAsideMs: z.number().min(100).default(5000),
});

const modbusScale = z.object({
  kind: z.literal('modbus'),
  bus: id,
  unit: z.number().int().min(0).max(255),
  /** A preset from devices/scale/presets (e.g. flintec-ft112, rinstrum-c500), fields overridable. */
  preset: z.string().default('generic'),
  overrides: z.record(z.string(), z.unknown()).optional(),
  /** Poll rate; default 10 Hz, up to 50 Hz (issue 2). */
  pollHz: z.number().min(1).max(50).default(10),
});

const streamScale = z.object({
  kind: z.literal('stream'),
  link: linkUrl,
  format: z.enum(['xk3190-a9', 'toledo', 'ascii']),
  formatOptions: z.record(z.string(), z.unknown()).optional(),
  /** No good frame for this long → the scale is offline (ms). */
  staleAfterMs: z.number().min(50).default(500),
});

export const scaleSchema = z.discriminatedUnion('kind', [modbusScale, streamScale]);

export const codeRuleSchema = z.object({
  match: z.enum(['hex', 'numeric', 'url', 'regex']),
  kind: z.enum(['cylinder', 'badge']),
}).passthrough();

const readerSchema = z.object({
  link: linkUrl,
  prefix: z.string().optional(),
  suffix: z.string().optional(),
  /** The same code again within this window is one read (ms). */
  dedupMs: z.number().min(0).default(1500),
});

const coilRef = z.object({ bus: id, unit: z.number().int().min(0).max(255) });

const valveSchema = coilRef.extend({
  coil: z.number().int().min(0).max(65535),
  feedback: z
    .object({ kind: z.enum(['discrete', 'coil']), address: z.number().int().min(0), closedWhen: z.boolean() })
    .optional(),
  /** An open or close not confirmed by feedback within this time is a fault (ms). */
  confirmTimeoutMs: z.number().min(50).default(500),
  /** Rewrite the coil this often so a module's comms watchdog closes the valve if we go silent (devices.md 5). */
  keepAliveMs: z.number().min(50).optional(),
});

const inputSchema = coilRef.extend({
  kind: z.enum(['discrete', 'coil']).default('discrete'),
  address: z.number().int().min(0),
  pollHz: z.number().min(1).max(50).default(10),
});

export const fillSchema = z.object({
  /** Scale division e (kg): 20 g or 50 g for class III filling scales (domain.md 4, unsure → config). */
  divisionKg: z.number().positive().default(0.02),
  /** No fresh weight sample for this many poll periods → trip (issue 3). */
  staleAfterPolls: z.number().int().min(1).default(3),
  /** Weight must rise by noFlowMinKg within noFlowMs while filling, else trip. */
  noFlowMs: z.number().min(500).default(4000),
  noFlowMinKg: z.number().positive().default(0.05),
  /** A drop by more than this while filling trips (cylinder removed, hose break). */
  dropTripKg: z.number().positive().default(0.5),
  /** Maximum fill duration (ms): a YSP118 (49.5 kg) at 10 kg/min takes 5 min. */
  maxFillMs: z.number().min(1000).default(360_000),
  /** Check-weigh tolerance around the target (kg); carousel accuracy ±100 g (domain.md 4). */
  toleranceKg: z.number().positive().default(0.1),
  preact: z
    .object({ initialKg: z.number().min(0).default(0.1), minKg: z.number().min(0).default(0), maxKg: z.number().min(0).default(1.5) })
    .default({ initialKg: 0.1, minKg: 0, maxKg: 1.5 }),
  topUp: z.object({ pulseMs: z.number().min(20).default(150), maxPulses: z.number().int().min(0).default(3) }).default({ pulseMs: 150, maxPulses: 3 }),
  /** Start by itself once the verified cylinder's weight is stable, instead of waiting for the start button. */
  autoStart: z.boolean().default(false),
});

export const postSchema = z.object({
  id,
  /** A post fills one medium only: LPG and DME never at one filling address (domain.md 1). */
  medium: z.enum(['LPG', 'DME']),
  scale: scaleSchema,
  reader: readerSchema,
  valve: valveSchema,
  startInput: inputSchema.optional(),
  stopInput: inputSchema.optional(),
  fill: fillSchema.partial().optional(),
});

export type BusConfig = z.infer<typeof busSchema>;
export type ScaleConfig = z.infer<typeof scaleSchema>;
export type PostConfig = z.infer<typeof postSchema>;
export type FillSettings = z.infer<typeof fillSchema>;
