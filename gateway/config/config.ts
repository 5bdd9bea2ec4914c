/**
 * Loads and validates the gateway's YAML config. Every error is reported with
 * its path in the file and a hint, all at once, so an integrator fixes the
 * whole file in one pass (engineering.md example 10).
 */
import { readFileSync } from 'node:fs';
import { parseDocument, LineCounter } from 'yaml';
import { z } from 'zod';
import { busSchema, fillSchema, postSchema, scaleSchema, codeRuleSchema } from './schema.ts';
import { eligibilitySettingsSchema } from '../eligibility/settings.ts';
import { recordsConfigSchema, uploadConfigSchema } from '../records/config.ts';
import { mqttSchema, leakSchema } from '../mqtt/config.ts';

const levels = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const configSchema = z
  .object({
    station: z.object({
      /** This station's code: names records, the MQTT client id and topics. */
      code: z.string().min(1),
      /** The filling unit that owns the cylinders this station may fill (domain.md 1: own property only). */
      unit: z.string().min(1),
      name: z.string().optional(),
    }),
    /** Where the SQLite files and the station key live. */
    dataDir: z.string().default('./data'),
    log: z.object({ level: levels.default('info'), levels: z.record(z.string(), levels).optional() }).default({ level: 'info' }),
    buses: z.record(z.string(), busSchema).default({}),
    posts: z.array(postSchema).min(1, 'at least one post'),
    /** The separate check-weigh (re-weigh) scale (domain.md 1: 专用的复称衡器). */
    checkScale: scaleSchema.optional(),
    /** Rules turning what readers send into cylinder codes and badges, first match wins (domain.md 3). */
    codes: z.array(codeRuleSchema).default([
      { match: 'regex', kind: 'badge', pattern: '^B[0-9A-Z]{3,15}$' },
      { match: 'url', kind: 'cylinder' },
      { match: 'hex', kind: 'cylinder' },
      { match: 'numeric', kind: 'cylinder' },
    ]),
    fill: fillSchema.default(fillSchema.parse({})),
    /** Pocket-code tolerances, refill interval, badge timeout (gateway/eligibility/settings.ts). */
    eligibility: eligibilitySettingsSchema.default(eligibilitySettingsSchema.parse({})),
    /** Record store size limits, retention (2 years, DB4114/T 185-2023), clock-jump threshold. */
    records: recordsConfigSchema.default(recordsConfigSchema.parse({})),
    /** The regulator's traceability platform; absent = records are kept locally only. */
    upload: uploadConfigSchema.optional(),
    /** Embedded broker for station devices and the relay upstream; absent = no MQTT. */
    mqtt: mqttSchema.optional(),
    /** Leak interlock timing (detector silence, cut-off acknowledgement). */
    leak: leakSchema.default(leakSchema.parse({})),
    http: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8080) }).default({ host: '127.0.0.1', port: 8080 }),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.posts.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: ['posts', i, 'id'], message: `duplicate post id ${p.id}` });
      seen.add(p.id);
      const buses = [p.valve.bus, p.startInput?.bus, p.stopInput?.bus, p.scale.kind === 'modbus' ? p.scale.bus : undefined];
      for (const [j, b] of buses.entries()) {
        if (b && !(b in cfg.buses)) {
          const where = ['valve', 'startInput', 'stopInput', 'scale'][j];
          ctx.addIssue({ code: 'custom', path: ['posts', i, where, 'bus'], message: `bus "${b}" is not defined under buses: (defined: ${Object.keys(cfg.buses).join(', ') || 'none'})` });
        }
      }
    });
  });

export type GatewayConfig = z.infer<typeof configSchema>;

export interface ConfigError {
  path: string;
  message: string;
  line?: number;
}

export type ConfigResult = { ok: true; config: GatewayConfig } | { ok: false; errors: ConfigError[] };

/** Parse and validate YAML text; never throws. */
export function parseConfig(text: string): ConfigResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ path: '(yaml)', message: e.message.split('\n')[0], line: e.linePos?.[0]?.line })),
    };
  }
  return validateConfig(doc.toJS(), (path) => {
    const node = doc.getIn(path, true) as { range?: [number, number] } | undefined;
    return node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
  });
}

export function validateConfig(raw: unknown, lineOf: (path: (string | number)[]) => number | undefined = () => undefined): ConfigResult {
  const parsed = configSchema.safeParse(raw ?? {});
  if (parsed.success) return { ok: true, config: parsed.data };
  const errors = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String);
    return { path: path.join('.') || '(root)', message: issue.message, line: lineOf(issue.path as (string | number)[]) };
  });
  return { ok: false, errors };
}

export function loadConfigFile(file: string): ConfigResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [{ path: '(file)', message: `cannot read ${file}: ${(err as Error).message}` }] };
  }
  return parseConfig(text);
}

export function formatConfigErrors(file: string, errors: ConfigError[]): string {
  return errors.map((e) => `${file}${e.line ? `:${e.line}` : ''}: ${e.path}: ${e.message}`).join('\n');
}
