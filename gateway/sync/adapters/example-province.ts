/**
 * Example adapter for a provincial traceability platform with the field set
 * of domain.md section 6 (cylinder and valve code, unit, gun, filler and
 * checker with certificate numbers, medium, spec, tare, fill mass, re-weighed
 * mass, times, duration, checks, fill count, next inspection date, Sign).
 * The field names and the reply shape are illustrative of what such platforms
 * publish; copy this file and rename fields for a real platform.
 * Reply: {"code":0,"msg":"ok","data":[{"RecordNo":"…","Result":1|2|0,"Msg":"…"}]}
 * (1 accepted, 2 already received, 0 refused); code ≠ 0 fails the whole batch.
 */
import type { FillRecordV1 } from '../../records/record.ts';
import type { BatchAck, PlatformAdapter, RecordAck } from './types.ts';

const kg = (g: number | undefined) => (g === undefined ? '' : (g / 1000).toFixed(2));
/** Platforms of this kind take local time "YYYY-MM-DD HH:mm:ss": the record's own offset is kept by cutting, not converting. */
const localTime = (iso: string | undefined) => (iso ? iso.slice(0, 19).replace('T', ' ') : '');
const MEDIUM = { LPG: '液化石油气', DME: '二甲醚' } as const;
const checks = (c: FillRecordV1['preFillCheck']) => (c ? c.items.map((i) => ({ Item: i.item, Result: i.ok ? '合格' : '不合格', Remark: i.note ?? '' })) : []);

export function toProvincePayload(r: FillRecordV1, json: string): Record<string, unknown> {
  return {
    RecordNo: r.id,
    SerialNo: r.seq,
    StationCode: r.station,
    UnitCode: r.unit,
    GunNo: r.post,
    CylinderCode: r.cylinderCode ?? '',
    ValveCode: r.valveCode ?? '',
    Medium: r.medium ? MEDIUM[r.medium] : '',
    CylinderSpec: r.model ?? '',
    FillerName: r.filler?.name ?? '',
    FillerCertNo: r.filler?.certificate ?? '',
    CheckerName: r.checker?.name ?? '',
    CheckerCertNo: r.checker?.certificate ?? '',
    Tare: kg(r.tareG),
    FillWeight: kg(r.netFilledG),
    ReweighWeight: kg(r.reweighedNetG),
    StartTime: localTime(r.startedAt),
    EndTime: localTime(r.endedAt),
    Duration: r.durationMs === undefined ? '' : Math.round(r.durationMs / 1000),
    PreCheck: checks(r.preFillCheck),
    PostCheck: checks(r.postFillCheck),
    FillResult: r.outcome === 'filled' ? '合格' : r.outcome,
    RefuseReason: r.refusals.map((x) => x.code).join(';'),
    FillCount: r.fillCount ?? '',
    LastFillTime: localTime(r.lastFillAt),
    NextCheckDate: r.nextInspectionDue?.slice(0, 10) ?? '',
    Sign: r.sig,
    // The signed bytes themselves, so the platform can verify Sign (Ed25519, station key).
    SignedRecord: json,
  };
}

export const exampleProvinceAdapter: PlatformAdapter = {
  name: 'example-province',
  encodeBatch(records) {
    const data = records.map((r) => toProvincePayload(JSON.parse(r.json) as FillRecordV1, r.json));
    return { contentType: 'application/json; charset=utf-8', body: JSON.stringify({ Data: data }) };
  },
  decodeAck(status, text): BatchAck {
    if (status !== 200) return { ok: false, error: `HTTP ${status}` };
    let body: { code?: unknown; msg?: unknown; data?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return { ok: false, error: 'reply is not JSON' };
    }
    if (body.code !== 0) return { ok: false, error: `platform code ${String(body.code)}: ${String(body.msg ?? '')}` };
    if (!Array.isArray(body.data)) return { ok: false, error: 'reply has no data array' };
    const results: RecordAck[] = [];
    for (const d of body.data as Record<string, unknown>[]) {
      if (typeof d?.RecordNo !== 'string') continue;
      const status = d.Result === 1 ? 'accepted' : d.Result === 2 ? 'duplicate' : d.Result === 0 ? 'rejected' : undefined;
      if (status) results.push({ id: d.RecordNo, status, reason: typeof d.Msg === 'string' ? d.Msg : undefined });
    }
    return { ok: true, results };
  },
};
