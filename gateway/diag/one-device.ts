/**
 * A one-device config for `fillgate doctor` (issue 12 point 13): an integrator checking one
 * scale writes the scale and, for Modbus, its bus, without inventing a whole post
 * (reader, valve, medium) around it:
 *
 *   id: P1                      # optional: the device is reported as P1.scale (default "scale")
 *   buses: { rs485: { url: "modbus-rtu:///dev/ttyUSB0?baud=9600" } }
 *   scale: { kind: modbus, bus: rs485, unit: 1, preset: flintec-ft112 }
 *
 * or `scale: { kind: stream, link: "tcp://10.0.0.5:4001", format: toledo }`. The same
 * schema as posts[].scale and buses: in a station config.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { busSchema, scaleSchema } from '../config/schema.ts';
import type { DoctorConfig } from './doctor.ts';

const oneDeviceSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).optional(),
  buses: z.record(z.string(), busSchema).default({}),
  scale: scaleSchema,
});

/** True when the YAML text is a one-device config (a top-level `scale:` and no `posts:`). */
export function isOneDeviceConfig(text: string): boolean {
  const raw = parseDocument(text).toJS() as unknown;
  return typeof raw === 'object' && raw !== null && 'scale' in raw && !('posts' in raw);
}

export function parseOneDeviceConfig(text: string): { ok: true; config: DoctorConfig } | { ok: false; errors: string[] } {
  const doc = parseDocument(text);
  if (doc.errors.length) return { ok: false, errors: doc.errors.map((e) => e.message) };
  const r = oneDeviceSchema.safeParse(doc.toJS());
  if (!r.success) return { ok: false, errors: r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`) };
  const { id, buses, scale } = r.data;
  if (scale.kind === 'modbus' && !(scale.bus in buses)) {
    return { ok: false, errors: [`scale.bus: bus "${scale.bus}" is not defined under buses: (e.g. buses: { ${scale.bus}: { url: "modbus-rtu:///dev/ttyUSB0?baud=9600" } })`] };
  }
  return { ok: true, config: { buses, posts: [], scales: [{ id: id ? `${id}.scale` : 'scale', scale }] } };
}
