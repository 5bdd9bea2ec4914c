/**
 * Records and events for the inspector's report tests: signed, chained v1
 * records built from plain bodies, so a test can write fields the station does
 * not produce yet (outcome `filled_unchecked`, `certificateExpires`, …), and
 * station events signed and chained as a station sends them.
 */
import { sign, type KeyObject } from 'node:crypto';
import { sha256Hex, canonicalJson } from '../../../gateway/records/canonical.ts';
import { buildRecord, isoWithOffset, signRecord, type FillRecordV1 } from '../../../gateway/records/record.ts';
import type { ReceiverStore } from '../../../gateway/receiver/store.ts';
import { makeAttempt } from '../records/fixtures.ts';

/** 2026-03-01 00:00 UTC (08:00 at the station, +08:00). */
export const T0 = Date.UTC(2026, 2, 1);
export const MIN = 60_000;

export interface Spec {
  /** Minutes after T0 of the commit. */
  min: number;
  /** Fields of the v1 record to set (grams); `undefined` removes a field. */
  set?: Record<string, unknown>;
}

/** A chain of signed records for `station`, one per spec, seq 1…n. */
export function signedChain(privateKey: KeyObject, station: string, specs: Spec[], unit = 'UNIT-ZZ-01'): FillRecordV1[] {
  let prevHash = '0'.repeat(64);
  return specs.map((spec, i) => {
    const seq = i + 1;
    const wall = T0 + Math.round(spec.min * MIN);
    const at = isoWithOffset(wall, 480);
    const body = buildRecord(makeAttempt(seq, { station, unit, startedAt: at, endedAt: at, lastFillAt: undefined, preFillCheck: undefined, postFillCheck: { by: { badge: 'B002' }, at, items: [{ item: 'leak', ok: true }] } }), {
      seq, prevHash, recordedAt: at, monoMs: wall - T0, boot: 'boot-1',
    }) as unknown as Record<string, unknown>;
    body.attemptId = undefined;
    body.id = `${station}-${seq}`;
    for (const [k, v] of Object.entries(spec.set ?? {})) body[k] = v;
    const { record, hash } = signRecord(JSON.parse(canonicalJson(stripUndefined(body))) as Parameters<typeof signRecord>[0], privateKey);
    prevHash = hash;
    return record;
  });
}

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export interface EventSpec {
  min: number;
  kind: string;
  post?: string;
  subject?: string;
  by?: string;
  reason?: string;
  detail?: string;
  data?: Record<string, unknown>;
}

/** Station events as the event chain (issue 10 point 6) signs and chains them: one JSON line each, seq 1…n. */
export function signedEvents(privateKey: KeyObject, station: string, specs: EventSpec[]): string[] {
  let prevHash = '0'.repeat(64);
  return specs.map((e, i) => {
    const seq = i + 1;
    const wall = T0 + e.min * MIN;
    const body = stripUndefined({ v: 1, type: 'event', id: `${station}-ev-${seq}`, station, seq, prevHash, recordedAt: isoWithOffset(wall, 480), monoMs: e.min * MIN, boot: 'boot-1', kind: e.kind, post: e.post, subject: e.subject, by: e.by, reason: e.reason, detail: e.detail, data: e.data });
    const bytes = canonicalJson(body);
    const sig = sign(null, Buffer.from(bytes), privateKey).toString('base64');
    prevHash = sha256Hex(bytes);
    return canonicalJson({ ...body, sig });
  });
}

/** Upload station events to a receiver store (either kind) as a station would: every one must be accepted. */
export async function insertEvents(store: ReceiverStore, privateKey: KeyObject, station: string, specs: EventSpec[]): Promise<void> {
  const results = await store.ingestEvents(signedEvents(privateKey, station, specs));
  const bad = results.filter((r) => r.status !== 'accepted');
  if (bad.length > 0) throw new Error(`events not accepted: ${JSON.stringify(bad)}`);
}
