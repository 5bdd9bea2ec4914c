/**
 * The inspector's view (issue 10 point 10): per station and period
 *   - summary:    counts by outcome, refusal reason and trip;
 *   - exceptions: unchecked cylinders, checker = filler, filled past inspection,
 *                 unresolved overfills, interrupted fills, clock jumps, late and
 *                 rejected uploads, unauthorised fills, expired certificates, and
 *                 codes filled at another station within the refill interval;
 *   - persons:    fills per person with certificate validity;
 *   - alarms:     the alarm and reset log (station events, second chain);
 * and one cylinder's history across all stations, flagging one code filled at
 * two stations or units within the refill interval (a pocket code that one
 * station cannot see).
 *
 * Every database access goes through `ReportSource`, a handful of plain
 * async queries that each store implements (report-source.ts for SQLite,
 * pg-report-source.ts for PostgreSQL: `store.reportSource()`), so every report
 * runs unchanged on both. The reports read
 * records page by page and yield to the event loop between pages, so a month
 * of a busy station does not hold up uploads.
 *
 * Fields that stations write only after issue 10 points 1-6 (outcome
 * `filled_unchecked` and `unauthorised_fill`, `postFillCheckMissing`,
 * `certificateExpires` on a person, the event chain) are read by name: the
 * report shows them as soon as records carry them, and nothing breaks before.
 */
import type { FillRecordV1 } from '../records/record.ts';

// ---- the store side: what PostgreSQL implements too --------------------------------

export interface ReportRecordRow {
  station: string;
  seq: number;
  /** Epoch ms of the record's `recordedAt` (the station's clock). */
  recordedMs: number;
  /** Epoch ms when the receiver accepted it. */
  receivedMs: number;
  /** receivedMs − recordedMs, ≥ 0. */
  lagMs: number;
  /** The record as the station signed it (JSON text). */
  body: string;
}

export interface ReportRejectionRow {
  station: string | null;
  id: string;
  seq: number | null;
  reason: string;
  message: string;
  atMs: number;
}

export interface ReportEventRow {
  station: string;
  seq: number;
  kind: string;
  recordedMs: number;
  /** The event as the station signed it (JSON text, docs/record-format.md §9). */
  body: string;
}

export interface CrossFillRow {
  /** The record of the station the report is about. */
  seq: number;
  recordedMs: number;
  cylinder: string;
  /** The same code's record at another station. */
  otherStation: string;
  otherSeq: number;
  otherRecordedMs: number;
  otherBody: string;
}

/**
 * What a receiver store answers for the reports. Periods are [fromMs, toMs) on
 * the record's own time (`recordedAt`), like the export. Each method is one
 * plain SQL query on the tables of docs/record-format.md §6 and §9:
 *   received(station, seq, id, hash, prev_hash, recorded_ms, received_ms, lag_ms, body, cylinder, outcome)
 *   rejections(station, id, seq, reason, message, at_ms)
 *   received_events(station, seq, id, hash, prev_hash, kind, recorded_ms, received_ms, body)
 */
export interface ReportSource {
  /** An upload later than this after the record was made counts as late. */
  readonly lateAfterMs: number;
  /** Every station code known (registered or with records), sorted. */
  stationList(): Promise<string[]>;
  /**
   * One page of a station's records made in [fromMs, toMs) with seq > afterSeq, in seq order.
   * SELECT station, seq, recorded_ms, received_ms, lag_ms, body FROM received
   *  WHERE station = $1 AND recorded_ms >= $2 AND recorded_ms < $3 AND seq > $4 ORDER BY seq LIMIT $5
   */
  recordPage(station: string, fromMs: number, toMs: number, afterSeq: number, limit: number): Promise<ReportRecordRow[]>;
  /** Records the receiver rejected for this station in [fromMs, toMs) of the receiver's clock (at_ms). */
  rejectionList(station: string, fromMs: number, toMs: number): Promise<ReportRejectionRow[]>;
  /** Every record of one cylinder code at any station made in [fromMs, toMs), by time, at most `limit`. */
  cylinderRecords(code: string, fromMs: number, toMs: number, limit: number): Promise<ReportRecordRow[]>;
  /**
   * Records of `station` in [fromMs, toMs) with outcome in `outcomes` whose cylinder has a record with
   * an outcome in `outcomes` at another station within ±windowMs (a self-join on the cylinder index).
   */
  crossStationFills(station: string, fromMs: number, toMs: number, windowMs: number, outcomes: readonly string[]): Promise<CrossFillRow[]>;
  /**
   * Station events whose kind starts with one of `kindPrefixes`, made in [fromMs, toMs), in seq order.
   * Empty when the receiver has no event table yet.
   */
  eventList(station: string, fromMs: number, toMs: number, kindPrefixes: readonly string[]): Promise<ReportEventRow[]>;
  /** Whether station events are kept at all (the event chain, issue 10 point 6, may not be deployed yet). */
  hasEventTable(): Promise<boolean>;
}

// ---- queries --------------------------------------------------------------------

export interface ReportPeriod {
  station: string;
  /** Inclusive, epoch ms; absent = from the start. */
  fromMs?: number;
  /** Exclusive, epoch ms; absent = until now and later. */
  toMs?: number;
}

export interface ReportSettings {
  /** Two fills of one code closer than this at different stations/units is flagged (default 30 min, the station's minRefillIntervalMs). */
  refillIntervalMs: number;
  /** Rows per page read from the store; the event loop gets a turn between pages. */
  pageSize: number;
  /** Most rows of a cylinder's history. */
  historyLimit: number;
}

export const defaultReportSettings: ReportSettings = { refillIntervalMs: 30 * 60_000, pageSize: 500, historyLimit: 5000 };

/** A record's clockJumpMs and a clock.jump event this close in size (and time) are one jump. */
const CLOCK_JUMP_SAME_MS = 5000;
const MIN_MS = -8.64e15;
const MAX_MS = 8.64e15;

/** Outcomes after which gas went into the cylinder (the valve opened and the attempt closed out). */
export const FILL_OUTCOMES = ['filled', 'underfilled', 'overfilled', 'filled_unchecked'] as const;
/** Outcomes that close out a fill normally; they need a checker and a post-fill check. */
const CLOSED_OUT = new Set(['filled', 'underfilled', 'overfilled']);

/** Did gas go in? A closed-out fill, or a tripped/interrupted one that had started. */
export function gasWentIn(r: RecordV1): boolean {
  if ((FILL_OUTCOMES as readonly string[]).includes(r.outcome)) return true;
  return (r.outcome === 'tripped' || r.outcome === 'interrupted' || r.outcome === 'aborted') && (r.startedAt !== undefined || (r.netFilledG ?? 0) > 0);
}

type Person = NonNullable<FillRecordV1['filler']> & { certificateExpires?: string };
/** A stored record read leniently: outcomes and reason codes newer than this code are plain strings. */
export type RecordV1 = Omit<FillRecordV1, 'outcome' | 'trips' | 'refusals' | 'filler' | 'checker'> & {
  outcome: string;
  trips: { code: string; at?: string; grossG?: number; detail?: string }[];
  refusals: { code: string; detail?: string }[];
  postFillCheckMissing?: boolean;
  filler?: Person;
  checker?: Person;
};

/** One person, by certificate number (P证) when both carry one, else by badge (issue 10 point 2: people, not badges). */
export function samePerson(a: Person, b: Person): boolean {
  if (a.certificate && b.certificate) return a.certificate === b.certificate;
  return a.badge === b.badge;
}

/** The calendar day of a record in the station's own zone (the first 10 characters of its ISO 8601 time). */
const dayOf = (iso: string | undefined) => (iso && /^\d{4}-\d{2}-\d{2}/.test(iso) ? iso.slice(0, 10) : undefined);

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

interface ScannedRecord {
  row: ReportRecordRow;
  r: RecordV1;
}

/** Every record of a station in the period, page by page, with a turn of the event loop between pages. */
export async function* scanRecords(src: ReportSource, q: ReportPeriod, pageSize = defaultReportSettings.pageSize): AsyncGenerator<ScannedRecord> {
  let after = 0;
  for (;;) {
    const page = await src.recordPage(q.station, q.fromMs ?? MIN_MS, q.toMs ?? MAX_MS, after, pageSize);
    for (const row of page) {
      let r: RecordV1;
      try {
        r = JSON.parse(row.body) as RecordV1;
      } catch {
        continue; // stored bodies were parsed at acceptance; never expected
      }
      if (!Array.isArray(r.trips)) r.trips = [];
      if (!Array.isArray(r.refusals)) r.refusals = [];
      yield { row, r };
    }
    if (page.length < pageSize) return;
    after = page[page.length - 1].seq;
    await yieldToLoop();
  }
}

// ---- summary ---------------------------------------------------------------------

export interface SummaryReport {
  station: string;
  from?: string;
  to?: string;
  records: number;
  /** Records where gas went in (closed out, or tripped/interrupted after the start). */
  fills: number;
  netFilledKg: number;
  byOutcome: Record<string, number>;
  byRefusal: Record<string, number>;
  byTrip: Record<string, number>;
  byPost: Record<string, number>;
  firstSeq?: number;
  lastSeq?: number;
}

const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
const sorted = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export async function summaryReport(src: ReportSource, q: ReportPeriod, s: Partial<ReportSettings> = {}): Promise<SummaryReport> {
  const out: SummaryReport = { station: q.station, from: iso(q.fromMs), to: iso(q.toMs), records: 0, fills: 0, netFilledKg: 0, byOutcome: {}, byRefusal: {}, byTrip: {}, byPost: {} };
  let netG = 0;
  for await (const { row, r } of scanRecords(src, q, s.pageSize)) {
    out.records++;
    out.firstSeq ??= row.seq;
    out.lastSeq = row.seq;
    bump(out.byOutcome, String(r.outcome));
    bump(out.byPost, String(r.post));
    for (const x of r.refusals) bump(out.byRefusal, String(x.code));
    for (const x of r.trips) bump(out.byTrip, String(x.code));
    if (gasWentIn(r)) {
      out.fills++;
      netG += Math.max(0, r.netFilledG ?? 0);
    }
  }
  out.netFilledKg = netG / 1000;
  out.byOutcome = sorted(out.byOutcome);
  out.byRefusal = sorted(out.byRefusal);
  out.byTrip = sorted(out.byTrip);
  out.byPost = sorted(out.byPost);
  return out;
}

// ---- exceptions ------------------------------------------------------------------

export const exceptionKinds = [
  'unchecked',
  'checker_is_filler',
  'past_inspection',
  'unresolved_overfill',
  'interrupted',
  'clock_jump',
  'late_upload',
  'rejected_upload',
  'unauthorised_fill',
  'certificate_expired',
  'filled_elsewhere',
] as const;
export type ExceptionKind = (typeof exceptionKinds)[number];

export interface ExceptionRow {
  kind: ExceptionKind;
  station: string;
  /** Where the breach shows: a fill record, a station event, or the receiver's upload log. */
  source: 'record' | 'event' | 'upload';
  /** Record or event seq. */
  seq?: number;
  /** When (the record's or event's own time; the receiver's time for a rejected upload). */
  at: string;
  post?: string;
  cylinderCode?: string;
  outcome?: string;
  /** Badge(s) of the people concerned. */
  who?: string;
  /** Values for the catalogue text `report.exc.<kind>.detail` (gateway/i18n/reports.ts). */
  facts: Record<string, string | number>;
}

export interface ExceptionsReport {
  station: string;
  from?: string;
  to?: string;
  /** Exceptions found per kind (every kind present, 0 when none). */
  counts: Record<ExceptionKind, number>;
  exceptions: ExceptionRow[];
  /** False when the receiver has no station events yet (alarms, decants, unauthorised-fill events are then unknown). */
  eventsAvailable: boolean;
}

const who = (...ps: (Person | undefined)[]) => ps.filter((p): p is Person => !!p).map((p) => p.badge).join(' / ') || undefined;

/** Event kinds that record a decant of an overfilled cylinder (registry event `cylinder.decanted` → `registry.cylinder.decanted`). */
export const DECANT_EVENT_PREFIXES = ['registry.cylinder.decanted'] as const;
/** The hold itself (`cylinder.decant-hold` → `registry.cylinder.decant_hold`) is not a decant: it must never resolve the overfill. */

export async function exceptionsReport(src: ReportSource, q: ReportPeriod, settings: Partial<ReportSettings> = {}): Promise<ExceptionsReport> {
  const s = { ...defaultReportSettings, ...settings };
  const rows: ExceptionRow[] = [];
  const overfills: ExceptionRow[] = [];
  const base = (row: ReportRecordRow, r: RecordV1) => ({ station: row.station, source: 'record' as const, seq: row.seq, at: r.recordedAt, post: r.post, cylinderCode: r.cylinderCode, outcome: r.outcome });

  /** Time, post and filler of the station's fills, for the cross-station rows. */
  const fills = new Map<number, { at: string; post: string; who?: string }>();
  /** Record ids listed as unauthorised fills: the station's fill.unauthorised event for the same attempt is the same breach. */
  const unauthorisedIds = new Set<string>();
  /** Clock jumps a record carries (clockJumpMs): the station's clock.jump event for the same jump is the same breach. */
  const recordJumps: { row: ExceptionRow; recordedMs: number; jumpMs: number }[] = [];
  for await (const { row, r } of scanRecords(src, q, s.pageSize)) {
    const b = base(row, r);
    const gas = gasWentIn(r);
    if (gas && r.cylinderCode) fills.set(row.seq, { at: r.recordedAt, post: r.post, who: who(r.filler) });
    // 1. No unchecked cylinder leaves: its own outcome, the flag, or (older stations) a closed-out fill without checker or post-fill check.
    if (r.outcome === 'filled_unchecked' || r.postFillCheckMissing === true || (CLOSED_OUT.has(r.outcome) && r.trips.length === 0 && (!r.checker || !r.postFillCheck))) {
      const missing = [!r.checker ? 'checker' : '', !r.postFillCheck ? 'postFillCheck' : '', r.reweighedGrossG === undefined ? 'reweigh' : ''].filter(Boolean).join(', ');
      rows.push({ ...b, kind: 'unchecked', who: who(r.filler), facts: { missing: missing || 'post-fill check' } });
    }
    // 2. People, not badges.
    if (gas && r.filler && r.checker && samePerson(r.filler, r.checker)) {
      rows.push({ ...b, kind: 'checker_is_filler', who: who(r.filler, r.checker), facts: { person: r.filler.certificate ?? r.filler.badge } });
    }
    // Filled past the periodic inspection date.
    const day = dayOf(r.startedAt ?? r.recordedAt);
    const due = dayOf(r.nextInspectionDue);
    if (gas && day && due && due < day) rows.push({ ...b, kind: 'past_inspection', facts: { due, day } });
    // 3. Overfills: resolved only by a recorded decant (checked after the scan).
    if (r.mustDecant === true || r.outcome === 'overfilled' || (gas && r.toleranceState === 'over')) {
      overfills.push({ ...b, kind: 'unresolved_overfill', who: who(r.filler), facts: { netKg: (r.netFilledG ?? 0) / 1000, allowedKg: (r.allowedFillG ?? 0) / 1000, recordedMs: row.recordedMs } });
    }
    if (r.outcome === 'interrupted') rows.push({ ...b, kind: 'interrupted', who: who(r.filler), facts: { trips: r.trips.map((t) => t.code).join(';'), netKg: (r.netFilledG ?? 0) / 1000 } });
    if (typeof r.clockJumpMs === 'number' && r.clockJumpMs !== 0) {
      const jump: ExceptionRow = { ...b, kind: 'clock_jump', facts: { jumpMs: r.clockJumpMs } };
      rows.push(jump);
      recordJumps.push({ row: jump, recordedMs: row.recordedMs, jumpMs: r.clockJumpMs });
    }
    if (row.lagMs > src.lateAfterMs) rows.push({ ...b, kind: 'late_upload', facts: { lagMin: Math.round(row.lagMs / 60_000), received: new Date(row.receivedMs).toISOString() } });
    if (r.outcome === 'unauthorised_fill' || r.trips.some((t) => t.code === 'UNAUTHORISED_FILL')) {
      rows.push({ ...b, kind: 'unauthorised_fill', facts: { netKg: (r.netFilledG ?? 0) / 1000 } });
      if (r.id) unauthorisedIds.add(r.id);
    }
    if (gas) {
      for (const [role, p] of [['filler', r.filler], ['checker', r.checker]] as const) {
        const exp = dayOf(p?.certificateExpires);
        if (p && day && exp && exp < day) rows.push({ ...b, kind: 'certificate_expired', who: p.badge, facts: { role, certificate: p.certificate ?? '', expires: exp } });
      }
    }
  }

  // Overfills without a decant recorded after them (events; none before the event chain exists).
  const decants = await src.eventList(q.station, q.fromMs ?? MIN_MS, MAX_MS, DECANT_EVENT_PREFIXES);
  for (const o of overfills) {
    const done = decants.some((e) => e.recordedMs >= (o.facts.recordedMs as number) && subjectOf(e) === o.cylinderCode);
    delete o.facts.recordedMs;
    if (!done) rows.push(o);
  }

  for (const j of await src.rejectionList(q.station, q.fromMs ?? MIN_MS, q.toMs ?? MAX_MS)) {
    rows.push({ kind: 'rejected_upload', station: q.station, source: 'upload', seq: j.seq ?? undefined, at: new Date(j.atMs).toISOString(), facts: { reason: j.reason, message: j.message, id: j.id } });
  }

  for (const e of await src.eventList(q.station, q.fromMs ?? MIN_MS, q.toMs ?? MAX_MS, ['clock.jump', 'fill.unauthorised'])) {
    const ev = parseEvent(e);
    const b = { station: e.station, source: 'event' as const, seq: e.seq, at: ev.recordedAt ?? new Date(e.recordedMs).toISOString(), post: ev.post };
    const attemptId = typeof ev.data?.attemptId === 'string' ? ev.data.attemptId : undefined;
    if (e.kind.startsWith('clock.jump')) {
      const jumpMs = Number(ev.data?.jumpMs ?? 0);
      // One jump, two witnesses: the event (checked every second) and the next record's clockJumpMs.
      // The event stays (it is the earlier one, and there may be no record after it); the record's row goes.
      const same = recordJumps.find((j) => rows.includes(j.row) && j.recordedMs >= e.recordedMs - CLOCK_JUMP_SAME_MS && j.recordedMs - e.recordedMs < 86_400_000 && Math.abs(j.jumpMs - jumpMs) <= CLOCK_JUMP_SAME_MS);
      if (same) rows.splice(rows.indexOf(same.row), 1);
      rows.push({ ...b, kind: 'clock_jump', facts: { jumpMs } });
    } else if (!(attemptId && unauthorisedIds.has(attemptId))) {
      // The attempt's record (with its mass) is the row when the receiver has it; the event stands in for it otherwise.
      const subject = ev.subject && ev.subject !== ev.post && ev.subject !== attemptId ? ev.subject : undefined;
      rows.push({ ...b, kind: 'unauthorised_fill', cylinderCode: subject, facts: { detail: ev.detail ?? ev.reason ?? '' } });
    }
  }

  for (const c of await src.crossStationFills(q.station, q.fromMs ?? MIN_MS, q.toMs ?? MAX_MS, s.refillIntervalMs, FILL_OUTCOMES)) {
    let other: Partial<RecordV1> = {};
    try {
      other = JSON.parse(c.otherBody) as RecordV1;
    } catch {
      // keep the bare row
    }
    const mine = fills.get(c.seq);
    rows.push({
      kind: 'filled_elsewhere', station: q.station, source: 'record', seq: c.seq, at: mine?.at ?? new Date(c.recordedMs).toISOString(), post: mine?.post, who: mine?.who, cylinderCode: c.cylinder,
      facts: { otherStation: c.otherStation, otherUnit: other.unit ?? '', otherSeq: c.otherSeq, otherAt: other.recordedAt ?? new Date(c.otherRecordedMs).toISOString(), minutesApart: Math.round(Math.abs(c.recordedMs - c.otherRecordedMs) / 60_000) },
    });
  }

  const order = new Map(exceptionKinds.map((k, i) => [k, i]));
  const ms = new Map(rows.map((r) => [r, Date.parse(r.at)]));
  rows.sort((a, b) => ms.get(a)! - ms.get(b)! || (a.seq ?? 0) - (b.seq ?? 0) || order.get(a.kind)! - order.get(b.kind)!);
  const counts = Object.fromEntries(exceptionKinds.map((k) => [k, 0])) as Record<ExceptionKind, number>;
  for (const r of rows) counts[r.kind]++;
  return { station: q.station, from: iso(q.fromMs), to: iso(q.toMs), counts, exceptions: rows, eventsAvailable: await src.hasEventTable() };
}

interface EventBody {
  kind?: string;
  recordedAt?: string;
  post?: string;
  subject?: string;
  by?: string;
  reason?: string;
  detail?: string;
  data?: Record<string, unknown>;
}

function parseEvent(e: ReportEventRow): EventBody {
  try {
    return JSON.parse(e.body) as EventBody;
  } catch {
    return {};
  }
}

const subjectOf = (e: ReportEventRow) => parseEvent(e).subject;

// ---- persons ---------------------------------------------------------------------

export type CertificateValidity = 'valid' | 'expired' | 'unknown' | 'none';

export interface PersonRow {
  /** Certificate number, or `badge:<badge>` without one. */
  key: string;
  name?: string;
  certificate?: string;
  /** Latest expiry date seen on a record (YYYY-MM-DD). */
  certificateExpires?: string;
  badges: string[];
  /** Fills (gas went in) as filler, and checks signed as checker. */
  fills: number;
  checks: number;
  /** Fills or checks done on a day after the certificate's expiry. */
  afterExpiry: number;
  /** Fills where this person was also the checker. */
  selfChecked: number;
  /**
   * valid: an expiry date is known and every fill or check was before it; expired: at least one was after it;
   * unknown: a certificate number but no expiry on the records (stations before issue 10 point 2); none: no certificate number.
   */
  validity: CertificateValidity;
  firstAt?: string;
  lastAt?: string;
}

export interface PersonsReport {
  station: string;
  from?: string;
  to?: string;
  persons: PersonRow[];
}

export async function personsReport(src: ReportSource, q: ReportPeriod, s: Partial<ReportSettings> = {}): Promise<PersonsReport> {
  const people = new Map<string, PersonRow>();
  const touch = (p: Person, r: RecordV1): PersonRow => {
    const key = p.certificate ? p.certificate : `badge:${p.badge}`;
    let row = people.get(key);
    if (!row) people.set(key, (row = { key, certificate: p.certificate, badges: [], fills: 0, checks: 0, afterExpiry: 0, selfChecked: 0, validity: 'none' }));
    if (p.name) row.name = p.name;
    if (!row.badges.includes(p.badge)) row.badges.push(p.badge);
    const exp = dayOf(p.certificateExpires);
    if (exp && (!row.certificateExpires || exp > row.certificateExpires)) row.certificateExpires = exp;
    const day = dayOf(r.startedAt ?? r.recordedAt);
    if (exp && day && exp < day) row.afterExpiry++;
    row.firstAt ??= r.recordedAt;
    row.lastAt = r.recordedAt;
    return row;
  };
  for await (const { r } of scanRecords(src, q, s.pageSize)) {
    if (!gasWentIn(r)) continue;
    if (r.filler) touch(r.filler, r).fills++;
    if (r.checker) {
      const row = touch(r.checker, r);
      row.checks++;
      if (r.filler && samePerson(r.filler, r.checker)) row.selfChecked++;
    }
  }
  const persons = [...people.values()].map((p) => ({
    ...p,
    validity: (!p.certificate ? 'none' : p.afterExpiry > 0 ? 'expired' : p.certificateExpires ? 'valid' : 'unknown') as CertificateValidity,
  }));
  persons.sort((a, b) => b.fills + b.checks - (a.fills + a.checks) || a.key.localeCompare(b.key));
  return { station: q.station, from: iso(q.fromMs), to: iso(q.toMs), persons };
}

// ---- one cylinder across stations ------------------------------------------------

export interface CylinderHistoryRow {
  station: string;
  seq: number;
  unit: string;
  post: string;
  at: string;
  outcome: string;
  netFilledKg?: number;
  filler?: string;
  checker?: string;
  /** Set when this fill came within the refill interval of the previous fill of the code at another station or unit. */
  flag?: 'two_units_within_interval' | 'two_stations_within_interval' | 'refilled_too_soon';
  /** The previous fill the flag refers to. */
  previous?: { station: string; unit: string; seq: number; at: string; minutesApart: number };
}

export interface CylinderReport {
  code: string;
  from?: string;
  to?: string;
  refillIntervalMin: number;
  stations: string[];
  units: string[];
  history: CylinderHistoryRow[];
  flagged: number;
  /** True when the history was cut at the limit. */
  truncated: boolean;
}

export async function cylinderReport(src: ReportSource, code: string, period: { fromMs?: number; toMs?: number } = {}, settings: Partial<ReportSettings> = {}): Promise<CylinderReport> {
  const s = { ...defaultReportSettings, ...settings };
  const rows = await src.cylinderRecords(code, period.fromMs ?? MIN_MS, period.toMs ?? MAX_MS, s.historyLimit + 1);
  const truncated = rows.length > s.historyLimit;
  const history: CylinderHistoryRow[] = [];
  let last: { row: ReportRecordRow; r: RecordV1 } | undefined;
  for (const row of rows.slice(0, s.historyLimit)) {
    let r: RecordV1;
    try {
      r = JSON.parse(row.body) as RecordV1;
    } catch {
      continue;
    }
    const h: CylinderHistoryRow = {
      station: row.station, seq: row.seq, unit: r.unit, post: r.post, at: r.recordedAt, outcome: r.outcome,
      netFilledKg: r.netFilledG === undefined ? undefined : r.netFilledG / 1000, filler: r.filler?.badge, checker: r.checker?.badge,
    };
    if (gasWentIn(r)) {
      if (last && row.recordedMs - last.row.recordedMs < s.refillIntervalMs) {
        const otherUnit = last.r.unit !== r.unit;
        const otherStation = last.row.station !== row.station;
        h.flag = otherUnit ? 'two_units_within_interval' : otherStation ? 'two_stations_within_interval' : 'refilled_too_soon';
        h.previous = { station: last.row.station, unit: last.r.unit, seq: last.row.seq, at: last.r.recordedAt, minutesApart: Math.round((row.recordedMs - last.row.recordedMs) / 60_000) };
      }
      last = { row, r };
    }
    history.push(h);
  }
  return {
    code, from: iso(period.fromMs), to: iso(period.toMs), refillIntervalMin: Math.round(s.refillIntervalMs / 60_000),
    stations: [...new Set(history.map((h) => h.station))].sort(), units: [...new Set(history.map((h) => h.unit))].sort(),
    history, flagged: history.filter((h) => h.flag).length, truncated,
  };
}

// ---- alarm and reset log -------------------------------------------------------------

/** Event kinds of the alarm and reset log (docs/record-format.md §9): alarms raised/cleared, locks and latches set/lifted/refused (supervisor resets), unauthorised fills. */
export const ALARM_EVENT_PREFIXES = ['alarm.', 'latch.', 'fill.unauthorised'] as const;

export interface AlarmRow {
  station: string;
  seq: number;
  at: string;
  kind: string;
  post?: string;
  subject?: string;
  by?: string;
  reason?: string;
  detail?: string;
}

export interface AlarmsReport {
  station: string;
  from?: string;
  to?: string;
  eventsAvailable: boolean;
  events: AlarmRow[];
}

export async function alarmsReport(src: ReportSource, q: ReportPeriod): Promise<AlarmsReport> {
  const rows = await src.eventList(q.station, q.fromMs ?? MIN_MS, q.toMs ?? MAX_MS, ALARM_EVENT_PREFIXES);
  const events = rows.map((e) => {
    const ev = parseEvent(e);
    return { station: e.station, seq: e.seq, at: ev.recordedAt ?? new Date(e.recordedMs).toISOString(), kind: e.kind, post: ev.post, subject: ev.subject, by: ev.by, reason: ev.reason, detail: ev.detail };
  });
  return { station: q.station, from: iso(q.fromMs), to: iso(q.toMs), eventsAvailable: await src.hasEventTable(), events };
}
