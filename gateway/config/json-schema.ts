/**
 * The config's JSON Schema, derived from the zod schema (zod 4 `z.toJSONSchema`),
 * and the unknown-key check that walks it. zod strips keys it does not know; in
 * a station file an unknown key is nearly always a typo (`pollhz: 20`) whose
 * setting would silently not apply, so it is an error with a "did you mean".
 */
import { z } from 'zod';
import type { IssuePath } from './checks.ts';
import { unknownKeyHint } from './hints.ts';

export type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  const?: unknown;
  default?: unknown;
  description?: string;
  [k: string]: unknown;
};

/** JSON Schema (draft 2020-12) of what may be written in the file: defaults make keys optional. */
export function toConfigJsonSchema(schema: z.ZodType): JsonSchema {
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  closeObjects(js);
  return { ...js, $id: 'https://fillgate.example/schema/gateway-config.json', title: 'fillgate gateway configuration' };
}

/** Objects with listed properties accept nothing else (the unknown-key rule, for editors too). */
function closeObjects(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(closeObjects);
  if (typeof node !== 'object' || node === null) return;
  const n = node as JsonSchema;
  if (n.properties && n.additionalProperties === undefined) n.additionalProperties = false;
  for (const v of Object.values(n)) closeObjects(v);
}

export interface UnknownKey {
  path: IssuePath;
  message: string;
  hint: string;
}

/** Every key in `value` the schema does not define, with its path. */
export function unknownKeys(schema: JsonSchema, value: unknown, path: IssuePath = []): UnknownKey[] {
  const out: UnknownKey[] = [];
  walk(schema, value, path, out);
  return out;
}

function walk(schema: JsonSchema | undefined, value: unknown, path: IssuePath, out: UnknownKey[]): void {
  if (!schema || typeof value !== 'object' || value === null) return;
  const branches = schema.oneOf ?? schema.anyOf;
  if (branches) {
    const b = pickBranch(branches, value);
    if (b) walk(b, value, path, out);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => walk(schema.items, v, [...path, i], out));
    return;
  }
  const obj = value as Record<string, unknown>;
  const extra = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  for (const [key, v] of Object.entries(obj)) {
    const prop = schema.properties?.[key];
    if (prop) walk(prop, v, [...path, key], out);
    else if (extra) walk(extra, v, [...path, key], out);
    else if (schema.properties && schema.additionalProperties === false) {
      const allowed = Object.keys(schema.properties);
      out.push({ path: [...path, key], message: `unknown key "${key}"`, hint: unknownKeyHint(key, allowed) });
    }
  }
}

/** The branch of a union whose constant fields (e.g. kind: modbus) match the value. */
function pickBranch(branches: JsonSchema[], value: unknown): JsonSchema | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const obj = value as Record<string, unknown>;
  return branches.find((b) => {
    const consts = Object.entries(b.properties ?? {}).filter(([, p]) => p.const !== undefined);
    return consts.length > 0 && consts.every(([k, p]) => obj[k] === p.const);
  });
}
