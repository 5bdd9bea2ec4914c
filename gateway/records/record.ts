/**
 * Fill record format v1 (docs/record-format.md, fill-record.v1.schema.json):
 * what a FillAttempt becomes once it is sequenced, chained and signed.
 * Masses are integer grams, durations integer ms (see canonical.ts for why).
 * Hash = SHA-256 over the canonical bytes without `sig`; sig = Ed25519 over
 * the same bytes (node:crypto), base64.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { FillgateError } from '../../protocols/errors.ts';
import { refusalReasons, tripReasons, type RefusalCode, type TripCode } from '../reasons.ts';
import type { CheckRecord, FillAttempt, FillOutcome, Medium, Person, ToleranceState } from './types.ts';
import { canonicalJson, sha256Hex } from './canonical.ts';

export const RECORD_VERSION = 1;

export interface FillRecordV1 {
  v: 1;
  id: string;
  station: string;
  seq: number;
  prevHash: string;
  /** Wall clock at commit, ISO 8601 with the station's offset. For people; order is `seq`. */
  recordedAt: string;
  /** Monotonic ms at commit within boot `boot` (restarts at each process start). */
  monoMs: number;
  boot: string;
  /** Present when the PC clock jumped since the previous record: wall − monotonic moved by this much (ms). */
  clockJumpMs?: number;
  unit: string;
  post: string;
  outcome: FillOutcome;
  cylinderCode?: string;
  valveCode?: string;
  medium?: Medium;
  model?: string;
  filler?: Person;
  checker?: Person;
  tareG?: number;
  residualG?: number;
  allowedFillG?: number;
  targetG?: number;
  preactG?: number;
  netFilledG?: number;
  reweighedGrossG?: number;
  reweighedNetG?: number;
  reweighScale?: string;
  deviationG?: number;
  toleranceState?: ToleranceState;
  mustDecant?: boolean;
  postFillCheckMissing?: boolean;
  scanGrossG?: number;
  topUps?: number;
  cutPlan?: 'conservative' | 'single' | 'twoStage';
  preFillCheck?: CheckRecord;
  postFillCheck?: CheckRecord;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  trips: { code: TripCode; at: string; grossG?: number; detail?: string }[];
  refusals: { code: RefusalCode; detail?: string }[];
  fillCount?: number;
  lastFillAt?: string;
  nextInspectionDue?: string;
  /** Fields of the attempt that failed validation and were left out (the record is still written). */
  dataErrors?: string[];
  sig: string;
}

export type UnsignedRecord = Omit<FillRecordV1, 'sig'>;

// ---- validation of what the controller hands over -------------------------------

const isoTime = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/, 'ISO 8601 date-time with zone offset');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))?$/, 'ISO 8601 date');
const kg = z.number().min(-100_000).max(100_000);
const text = z.string().max(512);
const person = z.object({ badge: text.min(1), name: text.optional(), certificate: text.optional(), certificateExpires: isoDate.optional() });
const check = z.object({ by: person, at: isoTime, items: z.array(z.object({ item: text, ok: z.boolean(), note: text.optional() })).max(64) });
const refusalCode = z.enum(Object.keys(refusalReasons) as [RefusalCode, ...RefusalCode[]]);
const tripCode = z.enum(Object.keys(tripReasons) as [TripCode, ...TripCode[]]);

const required = {
  attemptId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'an id of letters, digits, . _ : - (max 64)'),
  station: text.min(1),
  unit: text.min(1),
  post: text.min(1),
  outcome: z.enum(['filled', 'underfilled', 'overfilled', 'filled_unchecked', 'unauthorised_fill', 'refused', 'tripped', 'aborted', 'interrupted']),
  trips: z.array(z.object({ code: tripCode, at: isoTime, grossKg: kg.optional(), detail: text.optional() })).max(100),
  refusals: z.array(z.object({ code: refusalCode, detail: text.optional() })).max(100),
};
const optional = {
  cylinderCode: text, valveCode: text, medium: z.enum(['LPG', 'DME']), model: text,
  filler: person, checker: person,
  tareKg: kg, residualKg: kg, allowedFillKg: kg, targetKg: kg, preactKg: kg, netFilledKg: kg,
  reweighedGrossKg: kg, reweighedNetKg: kg, reweighScale: text, deviationKg: kg,
  toleranceState: z.enum(['under', 'in', 'over']), mustDecant: z.boolean(), postFillCheckMissing: z.boolean(), scanGrossKg: kg, topUps: z.number().int().min(0).max(1000),
  cutPlan: z.enum(['conservative', 'single', 'twoStage']),
  preFillCheck: check, postFillCheck: check,
  startedAt: isoTime, endedAt: isoTime, durationMs: z.number().min(0).max(1e10),
  fillCount: z.number().int().min(0).max(1e9), lastFillAt: isoTime, nextInspectionDue: isoDate,
};
const requiredSchema = z.object(required);
const optionalSchemas = optional as Record<string, z.ZodType>;

/**
 * Check an attempt. A bad required field throws BAD_PAYLOAD (a controller bug);
 * a bad optional field is left out and named in `dataErrors`, so the attempt is
 * still recorded: losing a fill record is worse than a record with a hole.
 */
export function checkAttempt(attempt: FillAttempt): { attempt: FillAttempt; dataErrors: string[] } {
  const req = requiredSchema.safeParse(attempt);
  if (!req.success) {
    const first = req.error.issues[0];
    throw new FillgateError('BAD_PAYLOAD', `fill attempt: ${first.path.join('.')}: ${first.message}`, { attemptId: (attempt as { attemptId?: unknown })?.attemptId });
  }
  const clean: Record<string, unknown> = { ...attempt };
  const dataErrors: string[] = [];
  for (const [key, schema] of Object.entries(optionalSchemas)) {
    if (clean[key] === undefined) continue;
    const r = schema.safeParse(clean[key]);
    if (!r.success) {
      const issue = r.error.issues[0];
      dataErrors.push(`${[key, ...issue.path].join('.')}: ${issue.message}`);
      delete clean[key];
    }
  }
  return { attempt: clean as unknown as FillAttempt, dataErrors };
}

const grams = (v: number | undefined) => (v === undefined ? undefined : Math.round(v * 1000));

export interface ChainPosition {
  seq: number;
  prevHash: string;
  recordedAt: string;
  monoMs: number;
  boot: string;
  clockJumpMs?: number;
}

/** Map a checked attempt to the unsigned v1 body (kg → integer g, ms → integer). */
export function buildRecord(a: FillAttempt, pos: ChainPosition, dataErrors: string[] = []): UnsignedRecord {
  return {
    v: 1, id: a.attemptId, station: a.station, seq: pos.seq, prevHash: pos.prevHash,
    recordedAt: pos.recordedAt, monoMs: pos.monoMs, boot: pos.boot, clockJumpMs: pos.clockJumpMs,
    unit: a.unit, post: a.post, outcome: a.outcome,
    cylinderCode: a.cylinderCode, valveCode: a.valveCode, medium: a.medium, model: a.model,
    filler: a.filler, checker: a.checker,
    tareG: grams(a.tareKg), residualG: grams(a.residualKg), allowedFillG: grams(a.allowedFillKg),
    targetG: grams(a.targetKg), preactG: grams(a.preactKg), netFilledG: grams(a.netFilledKg),
    reweighedGrossG: grams(a.reweighedGrossKg), reweighedNetG: grams(a.reweighedNetKg), reweighScale: a.reweighScale,
    deviationG: grams(a.deviationKg), toleranceState: a.toleranceState, mustDecant: a.mustDecant, topUps: a.topUps, cutPlan: a.cutPlan,
    postFillCheckMissing: a.postFillCheckMissing, scanGrossG: grams(a.scanGrossKg),
    preFillCheck: a.preFillCheck, postFillCheck: a.postFillCheck,
    startedAt: a.startedAt, endedAt: a.endedAt, durationMs: a.durationMs === undefined ? undefined : Math.round(a.durationMs),
    trips: a.trips.map((t) => ({ code: t.code, at: t.at, grossG: grams(t.grossKg), detail: t.detail })),
    refusals: a.refusals.map((r) => ({ code: r.code, detail: r.detail })),
    fillCount: a.fillCount, lastFillAt: a.lastFillAt, nextInspectionDue: a.nextInspectionDue,
    dataErrors: dataErrors.length > 0 ? dataErrors : undefined,
  };
}

/** Canonical bytes of a record without its signature: what is hashed and signed. */
export function signedBytes(record: UnsignedRecord | FillRecordV1): string {
  const { sig: _sig, ...body } = record as FillRecordV1;
  return canonicalJson(body);
}

export function recordHash(record: UnsignedRecord | FillRecordV1): string {
  return sha256Hex(signedBytes(record));
}

export function signRecord(body: UnsignedRecord, privateKey: KeyObject): { record: FillRecordV1; canonical: string; hash: string } {
  const bytes = canonicalJson(body);
  const sig = sign(null, Buffer.from(bytes, 'utf8'), privateKey).toString('base64');
  const canonical = canonicalJson({ ...body, sig });
  // Parsed back so the caller holds exactly what is stored (no undefined keys).
  return { record: JSON.parse(canonical) as FillRecordV1, canonical, hash: sha256Hex(bytes) };
}

export function verifySignature(record: FillRecordV1, publicKey: KeyObject): boolean {
  if (typeof record.sig !== 'string') return false;
  try {
    return verify(null, Buffer.from(signedBytes(record), 'utf8'), publicKey, Buffer.from(record.sig, 'base64'));
  } catch {
    return false;
  }
}

export function verifyBytes(bytes: string, sig: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(bytes, 'utf8'), publicKey, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}

/**
 * The signed bytes of a record stored or sent in canonical form: the text
 * minus its `"sig":"…"` member (undefined unless it occurs exactly once). If
 * the signature verifies over them, the station signed exactly these bytes,
 * and it signs only canonical form: verifiers skip rebuilding it.
 */
export function withoutSig(text: string, sig: string): string | undefined {
  const member = `"sig":${JSON.stringify(sig)}`;
  const at = text.indexOf(member);
  if (at < 0 || text.indexOf(member, at + 1) >= 0) return undefined;
  const end = at + member.length;
  if (text[end] === ',') return text.slice(0, at) + text.slice(end + 1);
  if (text[at - 1] === ',') return text.slice(0, at - 1) + text.slice(end);
  return undefined;
}

/** Quick structural check for records arriving from elsewhere (receiver, verify). */
export function recordShapeError(r: unknown): string | undefined {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return 'not a JSON object';
  const o = r as Record<string, unknown>;
  if (o.v !== RECORD_VERSION) return `unsupported record version ${JSON.stringify(o.v)}`;
  if (typeof o.id !== 'string' || o.id.length === 0) return 'missing id';
  if (typeof o.station !== 'string') return 'missing station';
  if (!Number.isSafeInteger(o.seq) || (o.seq as number) < 1) return 'seq must be a positive integer';
  if (typeof o.prevHash !== 'string' || !/^[0-9a-f]{64}$/.test(o.prevHash)) return 'prevHash must be 64 hex digits';
  if (typeof o.recordedAt !== 'string' || Number.isNaN(Date.parse(o.recordedAt))) return 'recordedAt must be an ISO 8601 time';
  if (typeof o.sig !== 'string') return 'missing sig';
  return undefined;
}

/** Epoch ms → ISO 8601 with the given offset, e.g. 2026-01-01T08:00:00.000+08:00 (GB/T 7408). */
export function isoWithOffset(epochMs: number, offsetMinutes = -new Date(epochMs).getTimezoneOffset()): string {
  const shifted = new Date(epochMs + offsetMinutes * 60_000).toISOString().slice(0, 23);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${shifted}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
