/**
 * A simulated station described as data (YAML or JSON), validated with zod so
 * every error names its path (engineering.md example 10: one schema gives the
 * type and the validation). The format is documented in sim/README.md.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FillgateError } from '../protocols/errors.ts';
import type { RegisterType } from '../protocols/modbus/registers.ts';

const port = z.number().int().min(0).max(65535);
const unitId = z.number().int().min(1).max(247);
const address = z.number().int().min(0).max(0xffff);
const baud = z.number().int().positive().default(9600);
const streamTransport = z.enum(['tcp', 'pty']).default('tcp');

export const busSchema = z.strictObject({
  /** modbus-tcp: MBAP on TCP; rtu-tcp: RTU frames over raw TCP (a serial device server); rtu-pty: RTU on a pty pair. */
  transport: z.enum(['modbus-tcp', 'rtu-tcp', 'rtu-pty']),
  port: port.optional(),
  baud,
});

/** A register map the simulator models by itself (see sim/devices/scale-maps.ts). */
export const explicitMapSchema = z.strictObject({
  area: z.enum(['holding', 'input']).default('holding'),
  weightAddress: address,
  type: z.enum(['int16', 'uint16', 'int32', 'uint32', 'float32'] satisfies RegisterType[]).default('int32'),
  wordOrder: z.enum(['big', 'little']).default('big'),
  byteSwap: z.boolean().default(false),
  /** Decimal places of integer weights (kg × 10^decimals); default from the division. Ignored for float32. */
  decimals: z.number().int().min(0).max(4).optional(),
  statusAddress: address.optional(),
  /** Status bit set while the weight moves. */
  motionBit: z.number().int().min(0).max(15).optional(),
  overloadBit: z.number().int().min(0).max(15).optional(),
  /**
   * Holding register(s) of the indicator's setpoint 1, in the weight's type, word order and
   * decimals; its output switches on while gross ≥ setpoint (> 0). Readable with FC03 and
   * writable with FC06/FC16 whatever the area.
   */
  setpointAddress: address.optional(),
});

export const namedMaps = ['flintec-ft112', 'rinstrum-c500'] as const;

const scaleCommon = {
  divisionKg: z.number().positive().default(0.02),
  /** Peak noise before rounding (domain.md 4: one division is typical). */
  noiseKg: z.number().min(0).default(0.01),
  updateHz: z.number().positive().max(1000).default(10),
  capacityKg: z.number().positive().default(100),
  seed: z.number().int().optional(),
};

export const modbusScaleSchema = z.strictObject({
  protocol: z.literal('modbus'),
  bus: z.string().min(1),
  unitId,
  registerMap: z.union([z.enum(namedMaps), explicitMapSchema]).default('flintec-ft112'),
  ...scaleCommon,
});

export const streamScaleSchema = z.strictObject({
  protocol: z.enum(['xk3190-a9', 'toledo', 'ascii']),
  transport: streamTransport,
  port: port.optional(),
  baud,
  framesPerSecond: z.number().positive().max(200).default(10),
  /** Passed to protocols/scale scaleCodec (e.g. Toledo `{ checksum: true }`, an ASCII `pattern`); the gateway must use the same. */
  formatOptions: z.record(z.string(), z.unknown()).default({}),
  ...scaleCommon,
});

export const scaleSchema = z.discriminatedUnion('protocol', [modbusScaleSchema, streamScaleSchema]);

export const readerSchema = z.strictObject({
  transport: streamTransport,
  port: port.optional(),
  baud,
  prefix: z.string().default(''),
  /** domain.md 3: readers send one code per line (CR/LF). */
  suffix: z.string().default('\r\n'),
});

export const valveSchema = z.strictObject({
  bus: z.string().min(1),
  unitId,
  /** Coil driving the valve: ON = energised = open (de-energised = closed, domain.md 4). */
  coil: address,
  /** Discrete input that is ON while the valve is really closed. */
  feedbackInput: address.optional(),
  startInput: address.optional(),
  stopInput: address.optional(),
  /** domain.md 4: valve closing time 50-200 ms. */
  openDelayMs: z.number().min(0).default(80),
  closeDelayMs: z.number().min(0).default(120),
  /** Module comms watchdog: all coils OFF when no request came for this long (devices.md 5). */
  watchdogMs: z.number().positive().optional(),
  /**
   * The post scale's setpoint output is wired in series with the valve's power (issue 9 point 7):
   * while it is on, the valve is de-energised whatever the coil says.
   */
  cutBySetpoint: z.boolean().default(false),
});

export const postSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only'),
  medium: z.enum(['LPG', 'DME']).default('LPG'),
  /** domain.md 4: 10-30 kg/min. */
  flowKgPerMin: z.number().positive().default(20),
  scale: scaleSchema,
  reader: readerSchema,
  valve: valveSchema,
});

/** A gas detector controller on a Modbus bus (sim/devices/gas-detector.ts). */
export const gasDetectorSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only'),
  bus: z.string().min(1),
  unitId,
  registerMap: z.enum(['generic', 'igd-toc635']).default('generic'),
  /** Sensor ids, channel 1, 2, …; each starts clear (0 %LEL). */
  sensors: z.array(z.string().regex(/^[A-Za-z0-9_-]+$/)).min(1),
  /** GB/T 50493: first alarm ≤ 25 %LEL, second ≤ 50 %LEL. */
  level1Lel: z.number().min(1).max(100).default(25),
  level2Lel: z.number().min(1).max(100).default(50),
});

/** An emergency cut-off valve on a relay module's coil (sim/devices/cutoff.ts); may share the fill valves' module. */
export const cutoffValveSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only'),
  bus: z.string().min(1),
  unitId,
  /** Trip coil: ON closes the valve, which then stays closed until reopened by hand. */
  coil: address,
  /** Discrete input ON while the valve is closed. */
  feedbackInput: address,
  /** CJ/T 394 valves close in seconds at most. */
  closeDelayMs: z.number().min(0).default(300),
});

export const cylinderSchema = z.strictObject({
  code: z.string().min(1),
  tareKg: z.number().positive(),
  residualKg: z.number().min(0).default(0),
  valveCode: z.string().optional(),
  model: z.string().optional(),
});

export const stationSchema = z
  .strictObject({
    name: z.string().default('simulated station'),
    control: z.strictObject({ port: port.default(15000) }).default({ port: 15000 }),
    /** Where pty links are created; the gateway opens `<ptyDir>/<name>`. */
    ptyDir: z.string().default('/tmp/fillgate-sim'),
    buses: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), busSchema).default({}),
    posts: z.array(postSchema).min(1),
    checkScale: scaleSchema.optional(),
    /** A reader at the check-weigh scale (an RFID antenna): it reads the tag of a cylinder put on the check scale by itself. */
    checkReader: readerSchema.optional(),
    cylinders: z.array(cylinderSchema).default([]),
    badges: z.array(z.string().min(1)).default([]),
    gasDetectors: z.array(gasDetectorSchema).default([]),
    cutoffValves: z.array(cutoffValveSchema).default([]),
    /** Passed through untouched for sim/mqtt. */
    mqttDevices: z.unknown().optional(),
  })
  .superRefine(checkReferences);

export type Station = z.output<typeof stationSchema>;
export type StationInput = z.input<typeof stationSchema>;
export type BusSpec = z.output<typeof busSchema>;
export type ScaleSpec = z.output<typeof scaleSchema>;
export type ModbusScaleSpec = z.output<typeof modbusScaleSchema>;
export type StreamScaleSpec = z.output<typeof streamScaleSchema>;
export type ExplicitMap = z.output<typeof explicitMapSchema>;
export type ReaderSpec = z.output<typeof readerSchema>;
export type ValveSpec = z.output<typeof valveSchema>;
export type PostSpec = z.output<typeof postSchema>;
export type CylinderSpec = z.output<typeof cylinderSchema>;
export type GasDetectorSpec = z.output<typeof gasDetectorSchema>;
export type CutoffValveSpec = z.output<typeof cutoffValveSchema>;

type Ctx = z.core.$RefinementCtx<z.output<z.ZodObject>>;

function duplicate(ctx: Ctx, seen: Map<string, string>, key: string, path: (string | number)[], what: string): void {
  const first = seen.get(key);
  if (first !== undefined) ctx.addIssue({ code: 'custom', path, message: `${what} already used by ${first}` });
  else seen.set(key, path.join('.'));
}

/** Cross-references zod cannot express field by field: buses exist, unit ids, coils, inputs and ports are not shared by mistake. */
function checkReferences(s: z.output<z.ZodObject> & Record<string, any>, ctx: Ctx): void {
  const buses = s.buses as Record<string, BusSpec>;
  const posts = s.posts as PostSpec[];
  const units = new Map<string, string>(); // bus#unit → owner (scales; relay modules may be shared by valves)
  const relayUnits = new Set<string>();
  const coils = new Map<string, string>();
  const inputs = new Map<string, string>();
  const ports = new Map<string, string>();
  const ids = new Map<string, string>();
  const usePort = (p: number | undefined, path: (string | number)[]) => {
    if (p) duplicate(ctx, ports, String(p), path, `port ${p}`);
  };
  if (s.control?.port) usePort(s.control.port, ['control', 'port']);
  for (const [name, bus] of Object.entries(buses)) usePort(bus.port, ['buses', name, 'port']);
  const checkBus = (bus: string, path: (string | number)[]) => {
    if (!buses[bus]) ctx.addIssue({ code: 'custom', path, message: `unknown bus '${bus}' (buses: ${Object.keys(buses).join(', ') || 'none'})` });
  };
  const checkScale = (scale: ScaleSpec, path: (string | number)[]) => {
    if (scale.protocol === 'modbus') {
      checkBus(scale.bus, [...path, 'bus']);
      duplicate(ctx, units, `${scale.bus}#${scale.unitId}`, [...path, 'unitId'], `unit ${scale.unitId} on bus ${scale.bus}`);
    } else usePort(scale.port, [...path, 'port']);
  };
  posts.forEach((post, i) => {
    duplicate(ctx, ids, post.id, ['posts', i, 'id'], `post id ${post.id}`);
    checkScale(post.scale, ['posts', i, 'scale']);
    usePort(post.reader.port, ['posts', i, 'reader', 'port']);
    const v = post.valve;
    checkBus(v.bus, ['posts', i, 'valve', 'bus']);
    relayUnits.add(`${v.bus}#${v.unitId}`);
    duplicate(ctx, coils, `${v.bus}#${v.unitId}#${v.coil}`, ['posts', i, 'valve', 'coil'], `coil ${v.coil} of unit ${v.unitId}`);
    for (const key of ['feedbackInput', 'startInput', 'stopInput'] as const) {
      const a = v[key];
      if (a !== undefined) duplicate(ctx, inputs, `${v.bus}#${v.unitId}#${a}`, ['posts', i, 'valve', key], `input ${a} of unit ${v.unitId}`);
    }
  });
  if (s.checkScale) checkScale(s.checkScale as ScaleSpec, ['checkScale']);
  if (s.checkReader) usePort((s.checkReader as ReaderSpec).port, ['checkReader', 'port']);
  const sensors = new Map<string, string>();
  (s.gasDetectors as GasDetectorSpec[]).forEach((g, i) => {
    checkBus(g.bus, ['gasDetectors', i, 'bus']);
    duplicate(ctx, units, `${g.bus}#${g.unitId}`, ['gasDetectors', i, 'unitId'], `unit ${g.unitId} on bus ${g.bus}`);
    duplicate(ctx, ids, g.id, ['gasDetectors', i, 'id'], `device id ${g.id}`);
    g.sensors.forEach((id, j) => duplicate(ctx, sensors, id, ['gasDetectors', i, 'sensors', j], `sensor id ${id}`));
  });
  (s.cutoffValves as CutoffValveSpec[]).forEach((c, i) => {
    checkBus(c.bus, ['cutoffValves', i, 'bus']);
    duplicate(ctx, ids, c.id, ['cutoffValves', i, 'id'], `device id ${c.id}`);
    relayUnits.add(`${c.bus}#${c.unitId}`);
    duplicate(ctx, coils, `${c.bus}#${c.unitId}#${c.coil}`, ['cutoffValves', i, 'coil'], `coil ${c.coil} of unit ${c.unitId}`);
    duplicate(ctx, inputs, `${c.bus}#${c.unitId}#${c.feedbackInput}`, ['cutoffValves', i, 'feedbackInput'], `input ${c.feedbackInput} of unit ${c.unitId}`);
  });
  for (const key of relayUnits) {
    if (units.has(key)) ctx.addIssue({ code: 'custom', path: ['posts'], message: `relay module ${key} is also a scale (${units.get(key)})` });
  }
  const codes = new Map<string, string>();
  (s.cylinders as CylinderSpec[]).forEach((c, i) => duplicate(ctx, codes, c.code, ['cylinders', i, 'code'], `cylinder code ${c.code}`));
}

/** Every problem as `path: message`, empty when the station is valid. */
export function validateStation(input: unknown): string[] {
  const r = stationSchema.safeParse(input);
  return r.success ? [] : formatIssues(r.error.issues);
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(station)'}: ${i.message}`);
}

/** Loads a station from a YAML/JSON file path or an object; throws FillgateError BAD_CONFIG listing every error. */
export function loadStation(pathOrObject: string | StationInput | Record<string, unknown>): Station {
  let raw: unknown = pathOrObject;
  const source = typeof pathOrObject === 'string' ? pathOrObject : 'station object';
  if (typeof pathOrObject === 'string') {
    let text: string;
    try {
      text = readFileSync(pathOrObject, 'utf8');
    } catch (err) {
      throw new FillgateError('BAD_CONFIG', `cannot read station file ${pathOrObject}: ${(err as Error).message}`, { path: pathOrObject }, { cause: err });
    }
    try {
      raw = parseYaml(text); // YAML 1.2 is a superset of JSON, so .json files load too
    } catch (err) {
      throw new FillgateError('BAD_CONFIG', `${pathOrObject}: not valid YAML/JSON: ${(err as Error).message}`, { path: pathOrObject }, { cause: err });
    }
  }
  const r = stationSchema.safeParse(raw);
  if (!r.success) {
    const errors = formatIssues(r.error.issues);
    throw new FillgateError('BAD_CONFIG', `${source}: invalid station:\n  ${errors.join('\n  ')}`, { source, errors });
  }
  return r.data;
}
