/**
 * The receiver's side of the station event chain (issue 10 point 6): each
 * event is verified against the station's registered key and its own hash
 * chain, stored exactly once (primary key (station, seq), unique (station, id)),
 * duplicates answered as such, forged or altered events rejected with a
 * reason, gaps reported. The same rules as fill records (chain.ts), in their
 * own tables (`received_events`, `event_rejections`) of either store. Events
 * are few (a handful per hour), so they are verified on the main thread.
 *   POST /v1/events                    NDJSON or {events:[...]} → {results:[{id,seq,status,reason?,message?,gap?}]}
 *   GET  /v1/stations/:code/events     {report, events} (?from=&to= ISO 8601, ?kind=)
 */
import { sha256Hex } from '../records/canonical.ts';
import { eventShapeError, eventSignedBytes, type StationEventV1 } from '../records/event.ts';
import { recordShapeError, verifyBytes, withoutSig } from '../records/record.ts';
import type { StationKey } from './prepare.ts';
import type { Item, ReceiverStore, RecordResult } from './store.ts';

export interface EventReport {
  station: string;
  accepted: number;
  firstSeq?: number;
  lastSeq?: number;
  lastEventAt?: string;
  gaps: { from: number; to: number }[];
  missing: number;
  rejected: number;
  byKind: Record<string, number>;
}

/** What either store read for one station's event chain, as the report (one shape for SQLite and PostgreSQL). */
export function eventReportOf(
  station: string,
  s: { n: number; first: number | null; last: number | null },
  lastBody: string | undefined,
  gaps: { from: number; to: number }[],
  rejected: number,
  kinds: { kind: string; n: number }[],
): EventReport {
  return {
    station,
    accepted: s.n,
    firstSeq: s.first ?? undefined,
    lastSeq: s.last ?? undefined,
    lastEventAt: lastBody ? (JSON.parse(lastBody) as StationEventV1).recordedAt : undefined,
    gaps,
    missing: gaps.reduce((n, g) => n + g.to - g.from + 1, 0),
    rejected,
    byKind: Object.fromEntries(kinds.map((k) => [k.kind, k.n])),
  };
}

/** Parse, check the shape, verify the signature of one event line: an item for the chain check. */
export function prepareEventLine(line: string, keysOf: (station: string) => StationKey[] | undefined): Item {
  let ev: StationEventV1;
  try {
    ev = JSON.parse(line) as StationEventV1;
  } catch {
    return { ok: false, result: { id: '', status: 'rejected', reason: 'BAD_FORMAT', message: 'event is not JSON' } };
  }
  const id = typeof ev?.id === 'string' ? ev.id : '';
  const shape = recordShapeError(ev) ?? eventShapeError(ev);
  if (shape) return { ok: false, station: typeof ev?.station === 'string' ? ev.station : undefined, result: { id, status: 'rejected', reason: 'BAD_FORMAT', message: shape } };
  const base = { id, seq: ev.seq };
  const keys = keysOf(ev.station);
  if (!keys || keys.length === 0) return { ok: false, station: ev.station, result: { ...base, status: 'rejected', reason: 'UNKNOWN_STATION', retryable: true, message: `station ${ev.station} has no registered key` } };
  let bytes = withoutSig(line, ev.sig);
  let by = bytes === undefined ? undefined : keys.find((k) => verifyBytes(bytes!, ev.sig, k.key));
  if (!by) {
    try {
      bytes = eventSignedBytes(ev);
    } catch (err) {
      return { ok: false, station: ev.station, result: { ...base, status: 'rejected', reason: 'BAD_FORMAT', message: (err as Error).message } };
    }
    by = keys.find((k) => verifyBytes(bytes!, ev.sig, k.key));
  }
  const hash = sha256Hex(bytes!);
  return {
    ok: true,
    keyFp: by?.fp,
    cand: { station: ev.station, seq: ev.seq, id, hash, prevHash: ev.prevHash, recordedMs: Date.parse(ev.recordedAt), sigOk: by !== undefined },
    body: line,
    kind: ev.kind,
  };
}

/** The event chain of a store, as `rx.events` (the shape the event tests and routes use). */
export class ReceiverEvents {
  constructor(private readonly store: ReceiverStore) {}
  ingest(events: unknown[]): Promise<RecordResult[]> {
    return this.store.ingestEvents(events.map((e) => JSON.stringify(e) ?? 'null'));
  }
  ingestLines(lines: string[]): Promise<RecordResult[]> {
    return this.store.ingestEvents(lines);
  }
  report(station: string): Promise<EventReport> {
    return this.store.eventReport(station);
  }
  events(station: string, fromMs?: number, toMs?: number, kind?: string): Promise<StationEventV1[]> {
    return this.store.events(station, fromMs, toMs, kind);
  }
}
