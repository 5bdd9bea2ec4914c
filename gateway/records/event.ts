/**
 * Station event format v1 (issue 10 point 6; docs/record-format.md §9,
 * event.v1.schema.json): what happened at the station besides fills (alarms,
 * locks and resets, registry changes, config changes, clock jumps, remote
 * commands), signed with the station key and hash-chained like fill records,
 * in a second chain with its own sequence. Same canonical form, hash and
 * signature as record.ts, so the same verifier code checks both.
 */
import { canonicalJson } from './canonical.ts';

export const EVENT_TYPE = 'event';

/** The kinds the gateway writes. New kinds can appear without a format change (`^[a-z][a-z0-9_.]*$`). */
export const eventKinds = {
  'station.started': 'the gateway started (data: configHash, boot)',
  'config.changed': "the config's hash differs from the previous start (data: previousHash, hash)",
  'clock.jump': 'the PC clock jumped (data: jumpMs, signed ms; negative = set back)',
  'alarm.raised': 'an alarm became active (data: alarmId, alarmKind, level?, device?, location?)',
  'alarm.cleared': 'an alarm cleared (same data)',
  'latch.set': 'a lock or latch was set: leak, store, upload, remote, post:<id> (subject = the latch)',
  'latch.raise': 'a set latch got new data (e.g. leak level 1 → 2)',
  'latch.lift': 'a lock or latch was lifted: supervisor reset (leak, store, post trip reset), condition gone, remote unlock',
  'latch.refused': 'a reset was refused (reason, detail)',
  'registry.cylinder.quarantined': 'a cylinder was quarantined (subject = code; by = who/what)',
  'registry.cylinder.active': 'a quarantined cylinder was released',
  'registry.cylinder.scrapped': 'a cylinder was scrapped',
  'registry.cylinders.imported': 'an import summary (data: format, mode, counts)',
  'registry.operators.imported': 'an import summary (data: format, mode, counts)',
  'fill.unauthorised': 'weight rose at a post with no open attempt or with the valve closed (reason UNAUTHORISED_FILL)',
  'fill.unchecked': 'a cylinder left its post or the check scale without the post-fill check (reason LEFT_UNCHECKED; subject = cylinder code)',
  'exception.closed': 'a supervisor closed out an open exception (unchecked cylinder, unauthorised fill) with a note (data: exception, closes)',
  'remote.command': 'a remote command received: accepted (status ok) or refused (status refused, reason)',
} as const;

export type KnownEventKind = keyof typeof eventKinds;

/** What a caller hands to EventLog.append. Numbers in `data` that are not safe integers are written as strings. */
export interface EventInput {
  kind: KnownEventKind | (string & {});
  /** Post the event concerns, if any. */
  post?: string;
  /** What it is about: a cylinder code, a latch name, a device id. */
  subject?: string;
  /** Who or what caused it: a badge, `remote:<keyId>`, `condition`, `controller`. */
  by?: string;
  /** A stable code, e.g. LEAK_ALARM, REPLAYED, UNAUTHORISED_FILL. */
  reason?: string;
  detail?: string;
  data?: Record<string, unknown>;
  /** Idempotency key; a random UUID when absent. Appending an id already stored returns the stored event. */
  id?: string;
}

export interface StationEventV1 {
  v: 1;
  type: 'event';
  id: string;
  station: string;
  seq: number;
  prevHash: string;
  recordedAt: string;
  monoMs: number;
  boot: string;
  kind: string;
  post?: string;
  subject?: string;
  by?: string;
  reason?: string;
  detail?: string;
  data?: Record<string, unknown>;
  sig: string;
}

export type UnsignedEvent = Omit<StationEventV1, 'sig'>;

const KIND = /^[a-z][a-z0-9_.]{0,63}$/;
const ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Why an input cannot become an event (a caller bug), or undefined. */
export function eventInputError(e: EventInput): string | undefined {
  if (!e || typeof e !== 'object') return 'not an object';
  if (typeof e.kind !== 'string' || !KIND.test(e.kind)) return `kind ${JSON.stringify(e.kind)} must match ${KIND}`;
  if (e.id !== undefined && (typeof e.id !== 'string' || !ID.test(e.id))) return `id ${JSON.stringify(e.id)} must match ${ID}`;
  for (const k of ['post', 'subject', 'by', 'reason', 'detail'] as const) {
    if (e[k] !== undefined && typeof e[k] !== 'string') return `${k} must be a string`;
  }
  if (e.data !== undefined && (typeof e.data !== 'object' || e.data === null || Array.isArray(e.data))) return 'data must be an object';
  return undefined;
}

/**
 * Make `data` canonical-safe without losing it: non-integer numbers become
 * decimal strings (the format has no floats), undefined members are dropped,
 * anything else unserialisable becomes its String(). Depth and size bounded.
 */
export function cleanData(v: unknown, depth = 0): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return typeof v === 'string' ? v.slice(0, 2048) : v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? (Object.is(v, -0) ? 0 : v) : String(v);
  if (depth > 6) return String(v);
  if (Array.isArray(v)) return v.slice(0, 200).map((x) => (x === undefined ? null : cleanData(x, depth + 1)));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>).slice(0, 200)) if (x !== undefined) out[k] = cleanData(x, depth + 1);
    return out;
  }
  return String(v);
}

const short = (s: string | undefined, n = 512) => (s === undefined ? undefined : s.slice(0, n));

export function buildEvent(input: EventInput, id: string, pos: { station: string; seq: number; prevHash: string; recordedAt: string; monoMs: number; boot: string }): UnsignedEvent {
  return {
    v: 1, type: 'event', id, station: pos.station, seq: pos.seq, prevHash: pos.prevHash,
    recordedAt: pos.recordedAt, monoMs: pos.monoMs, boot: pos.boot,
    kind: input.kind, post: short(input.post, 64), subject: short(input.subject, 128), by: short(input.by, 128),
    reason: short(input.reason, 64), detail: short(input.detail, 1024),
    data: input.data ? (cleanData(input.data) as Record<string, unknown>) : undefined,
  };
}

/** Structural check for events arriving from elsewhere (receiver, verify); also rules out fill records. */
export function eventShapeError(e: unknown): string | undefined {
  if (!e || typeof e !== 'object' || Array.isArray(e)) return 'not a JSON object';
  const o = e as Record<string, unknown>;
  if (o.v !== 1) return `unsupported event version ${JSON.stringify(o.v)}`;
  if (o.type !== EVENT_TYPE) return 'type must be "event"';
  if (typeof o.kind !== 'string' || !KIND.test(o.kind)) return 'missing or bad kind';
  return undefined;
}

/** Canonical bytes of an event without its signature (the same rule as for records). */
export function eventSignedBytes(e: UnsignedEvent | StationEventV1): string {
  const { sig: _sig, ...body } = e as StationEventV1;
  return canonicalJson(body);
}
