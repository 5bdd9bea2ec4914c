/**
 * Loads and validates the gateway's YAML config. Every error is reported with
 * its path in the file and a hint, all at once, so an integrator fixes the
 * whole file in one pass (engineering.md example 10).
 */
import { readFileSync } from 'node:fs';
import { parseDocument, LineCounter } from 'yaml';
import { z } from 'zod';
import { busSchema, fillSchema, postSchema, readerSchema, scaleSchema, codeRuleSchema } from './schema.ts';
import { stationChecks } from './checks.ts';
import { hintFor } from './hints.ts';
import { toConfigJsonSchema, unknownKeys, type JsonSchema } from './json-schema.ts';
import { eligibilitySettingsSchema } from '../eligibility/settings.ts';
import { recordsConfigSchema, uploadConfigSchema } from '../records/config.ts';
import { mqttSchema, leakSchema } from '../mqtt/config.ts';
import { httpSchema } from '../http/config.ts';
import { remoteConfigSchema } from '../remote/command.ts';
import { cutoffValveSchema, leakDetectorSchema } from './leak-devices.ts';

const levels = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const configSchema = z
  .object({
    station: z.object({
      code: z.string().min(1).describe("This station's code: names records, the MQTT client id and topics"),
      unit: z.string().min(1).describe('The filling unit that owns the cylinders this station may fill (domain.md 1: own property only)'),
      name: z.string().optional().describe('Name shown to people'),
    }),
    dataDir: z.string().default('./data').describe('Where the SQLite files (registry, records, outbox) and the station key live'),
    log: z
      .object({
        level: levels.default('info').describe('Level of every namespace not listed under levels'),
        levels: z.record(z.string(), levels).optional().describe('Namespace prefix → level, e.g. { post.P1: debug, link.rs485: trace }; the longest prefix wins; frame hex dumps are logged at trace under link.<device>'),
      })
      .default({ level: 'info' }),
    buses: z.record(z.string(), busSchema).default({}).describe('Modbus buses by name: one arbiter per physical line or endpoint (domain.md 7)'),
    posts: z.array(postSchema).min(1, 'at least one post').describe('Filling posts (guns), each with its own scale, reader and valve'),
    checkScale: scaleSchema.optional().describe('The separate check-weigh (re-weigh) scale (domain.md 1: 专用的复称衡器)'),
    checkReader: readerSchema
      .optional()
      .describe("A code reader at the check-weigh scale: its reading then belongs to the cylinder whose code was read there, and a badge read there signs that cylinder's post-fill check; without one the reading goes to the post that has waited longest (a warning)"),
    codes: z.array(codeRuleSchema).describe('Rules turning what readers send into cylinder codes and badges, first match wins (domain.md 3)').default([
      { match: 'regex', kind: 'badge', pattern: '^B[0-9A-Z]{3,15}$' },
      { match: 'url', kind: 'cylinder' },
      { match: 'hex', kind: 'cylinder' },
      { match: 'numeric', kind: 'cylinder' },
    ]),
    fill: fillSchema.default(fillSchema.parse({})).describe('Fill control for every post (a post may change any key in its own fill:)'),
    eligibility: eligibilitySettingsSchema.default(eligibilitySettingsSchema.parse({})).describe('Pocket-code tolerances, refill interval, badge timeout; each default is explained in gateway/eligibility/settings.ts'),
    records: recordsConfigSchema.default(recordsConfigSchema.parse({})).describe('Record store size limits, retention (2 years, DB4114/T 185-2023), clock-jump threshold (gateway/records/config.ts)'),
    upload: uploadConfigSchema.optional().describe("The regulator's traceability platform; absent = records are kept locally only (gateway/records/config.ts)"),
    mqtt: mqttSchema.optional().describe('Embedded broker for station devices and the relay upstream; absent = no MQTT (gateway/mqtt/config.ts)'),
    leak: leakSchema.default(leakSchema.parse({})).describe('Leak interlock timing: detector silence, cut-off acknowledgement (gateway/mqtt/config.ts)'),
    leakDetectors: z
      .array(leakDetectorSchema)
      .default([])
      .describe('Gas detector controllers polled over Modbus (gateway/config/leak-devices.ts): level 1, a fault or silence locks the station, level 2 also closes every cut-off valve; the same interlock as MQTT detectors'),
    cutoffValves: z
      .array(cutoffValveSchema)
      .default([])
      .describe('Emergency cut-off valves driven through a Modbus relay coil with a closed-position feedback input (CJ/T 394): closed on a level-2 alarm, reopened only by hand'),
    remote: remoteConfigSchema.optional().describe('Signed remote commands on gateway/cmd (lock, unlock, quarantine, release, status) and the keys trusted to sign them; absent = commands are not handled (gateway/remote/)'),
    http: httpSchema.default(httpSchema.parse({})).describe('Status endpoint and station dashboard: listen address, users and roles, screen language (gateway/http/config.ts)'),
  });

export type GatewayConfig = z.infer<typeof configSchema>;

export interface ConfigError {
  /** Dotted path in the file, e.g. posts.1.scale.bus; (yaml), (file) or (root) when there is none. */
  path: string;
  message: string;
  /** 1-based line of the value (or of its nearest parent when the key is missing). */
  line?: number;
  /** What to write instead, when the mistake is a common one. */
  hint?: string;
}

/** Warnings do not stop the gateway (e.g. no check-weigh scale, baud rate left to its default). */
export type ConfigResult =
  | { ok: true; config: GatewayConfig; warnings: ConfigError[] }
  | { ok: false; errors: ConfigError[]; warnings: ConfigError[] };

type Path = (string | number)[];

let jsonSchema: JsonSchema | undefined;

/** The config's JSON Schema (`fillgate config schema`), derived from configSchema. */
export function configJsonSchema(): JsonSchema {
  return (jsonSchema ??= toConfigJsonSchema(configSchema));
}

/** Parse and validate YAML text; never throws. */
export function parseConfig(text: string): ConfigResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ path: '(yaml)', message: e.message.split('\n')[0], line: lineCounter.linePos(e.pos[0]).line })),
      warnings: [],
    };
  }
  return validateConfig(doc.toJS(), (path) => {
    // A missing key has no node: point at the nearest parent that exists.
    for (let n = path.length; n >= 0; n--) {
      const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as { range?: [number, number] } | null | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  });
}

/**
 * Validates plain data: the schema, unknown keys, and the cross-field rules of
 * checks.ts, all reported together; the config is returned only without errors.
 */
export function validateConfig(raw: unknown, lineOf: (path: Path) => number | undefined = () => undefined): ConfigResult {
  const input = raw ?? {};
  const parsed = configSchema.safeParse(input);
  const at = (path: Path, message: string, hint?: string): ConfigError => ({
    path: path.map(String).join('.') || '(root)',
    message,
    line: lineOf(path),
    ...(hint ? { hint } : {}),
  });
  const errors: ConfigError[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path as Path;
      errors.push(at(path, issue.message, hintFor(issue, valueAt(input, path))));
    }
  }
  for (const u of unknownKeys(configJsonSchema(), input)) errors.push(at(u.path, u.message, u.hint));
  const warnings: ConfigError[] = [];
  const reported = new Set(errors.map((e) => e.path));
  for (const c of stationChecks(input)) {
    const e = at(c.path, c.message, c.hint);
    if (c.severity === 'warning') warnings.push(e);
    else if (!reported.has(e.path)) errors.push(e);
  }
  const byLine = (a: ConfigError, b: ConfigError) => (a.line ?? Infinity) - (b.line ?? Infinity);
  errors.sort(byLine);
  warnings.sort(byLine);
  if (errors.length > 0 || !parsed.success) return { ok: false, errors, warnings };
  return { ok: true, config: parsed.data, warnings };
}

function valueAt(root: unknown, path: Path): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

export function loadConfigFile(file: string): ConfigResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [{ path: '(file)', message: `cannot read ${file}: ${(err as Error).message}` }], warnings: [] };
  }
  return parseConfig(text);
}

/** One line per problem, `file:line: path: message`, and its hint indented below. */
export function formatConfigErrors(file: string, errors: ConfigError[], label = ''): string {
  return errors
    .map((e) => `${file}${e.line ? `:${e.line}` : ''}: ${label}${e.path}: ${e.message}${e.hint ? `\n    hint: ${e.hint}` : ''}`)
    .join('\n');
}
