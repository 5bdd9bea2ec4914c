/** Shared fixtures for record, sync and receiver tests: realistic attempts and a keyed store. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../protocols/clock.ts';
import type { FillAttempt } from '../../../gateway/records/types.ts';
import { RecordStore, type RecordStoreOptions } from '../../../gateway/records/store.ts';

export const STATION = 'ST01';

export function makeAttempt(i: number, over: Partial<FillAttempt> = {}): FillAttempt {
  const t = new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + i * 60_000).toISOString().replace('Z', '+00:00');
  return {
    attemptId: `att-${String(i).padStart(7, '0')}`,
    station: STATION,
    unit: 'UNIT-ZZ-01',
    post: `P${(i % 4) + 1}`,
    outcome: 'filled',
    cylinderCode: `CYL${100000 + i}`,
    valveCode: `V${200000 + i}`,
    medium: 'LPG',
    model: 'YSP35.5',
    filler: { badge: 'B001', name: '张三', certificate: 'P-2024-0001' },
    checker: { badge: 'B002', name: '李四', certificate: 'P-2024-0002' },
    tareKg: 16.5,
    residualKg: 0.2,
    allowedFillKg: 14.9,
    targetKg: 14.9,
    preactKg: 0.12,
    netFilledKg: 14.88,
    reweighedGrossKg: 31.58,
    reweighedNetKg: 14.88,
    reweighScale: 'CW1',
    deviationKg: -0.02,
    toleranceState: 'in',
    mustDecant: false,
    topUps: 0,
    preFillCheck: { by: { badge: 'B002' }, at: t, items: [{ item: 'valve', ok: true }, { item: 'marks', ok: true }] },
    postFillCheck: { by: { badge: 'B002' }, at: t, items: [{ item: 'leak', ok: true }] },
    startedAt: t,
    endedAt: t,
    durationMs: 61_234.6,
    trips: [],
    refusals: [],
    fillCount: 12,
    lastFillAt: t,
    nextInspectionDue: '2028-05-01',
    ...over,
  };
}

export interface Keys {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
}

export function makeKeys(): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

export function tempDir(prefix = 'fillgate-rec-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function makeStore(keys: Keys, over: Partial<RecordStoreOptions> = {}): { store: RecordStore; clock: ManualClock } {
  const clock = (over.clock as ManualClock | undefined) ?? new ManualClock(1000);
  const store = new RecordStore({ db: ':memory:', clock, station: STATION, privateKey: keys.privateKey, config: { utcOffsetMinutes: 480 }, ...over });
  return { store, clock };
}

/** Poll until `cond` holds (other helpers load the machine: generous default). */
export async function eventually(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
