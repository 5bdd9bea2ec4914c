/**
 * Plain-text output of the diagnostics for a terminal: the doctor's table with
 * its hints under each device, scan lines, sniff lines. JSON output is the
 * report objects themselves (the CLI prints them with --json).
 */
import { hex } from '../../protocols/framing.ts';
import type { ScanResult } from './scan.ts';
import type { SniffLine } from './sniff.ts';
import type { DoctorDevice, DoctorReport } from './types.ts';

const STATUS_TEXT: Record<DoctorDevice['status'], string> = { ok: 'ok', problem: 'PROBLEM', unreachable: 'UNREACHABLE' };

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function formatDoctorReport(report: DoctorReport): string {
  const rows = [['DEVICE', 'STATUS', 'RTT', 'DISCARDED', 'WHERE', 'ANSWER / LAST ERROR']];
  for (const d of report.devices) {
    const rtt = d.rttMs !== undefined ? `${d.rttMs} ms` : '-';
    const said = d.status === 'unreachable' || !d.detail ? (d.lastError ?? d.detail ?? '') : d.detail;
    rows.push([d.id, STATUS_TEXT[d.status], rtt, String(d.framesDiscarded), d.where, said]);
  }
  const lines = table(rows);
  const out = [lines[0]!];
  report.devices.forEach((d, i) => {
    out.push(lines[i + 1]!);
    for (const h of d.hints) out.push(`    → ${h}`);
  });
  if (report.buses?.length) out.push('');
  for (const b of report.buses ?? []) {
    const rtt = b.rttMs !== undefined ? `round trip ${b.rttMs} ms` : 'no answer, round trip assumed';
    out.push(`bus ${b.name} (${b.url}): ${rtt}; the configured polling needs ~${b.demandPerSec} exchanges/s with every post filling (${b.demand}), the bus carries ~${b.capacityPerSec}: utilisation ${Math.round(b.utilisation * 100)} %`);
    for (const h of b.hints) out.push(`    → ${h}`);
  }
  const bad = report.devices.filter((d) => d.status !== 'ok').length;
  out.push('');
  out.push(
    bad === 0
      ? `all ${report.devices.length} devices ok (${report.durationMs} ms)`
      : `${bad} of ${report.devices.length} devices need attention (${report.durationMs} ms)`,
  );
  return out.join('\n');
}

export function formatScanResult(r: ScanResult): string {
  const rtt = r.rttMs !== undefined ? `${r.rttMs} ms` : '-';
  const mark = r.answers ? 'answers' : r.kind;
  return `unit ${String(r.unitId).padStart(3)}  ${mark.padEnd(9)}  ${rtt.padStart(8)}  ${r.response}`;
}

export function formatScanSummary(url: string, results: ScanResult[]): string {
  const found = results.filter((r) => r.answers).map((r) => r.unitId);
  const garbled = results.filter((r) => r.kind === 'garbled').map((r) => r.unitId);
  const link = results.filter((r) => r.kind === 'link').length;
  const lines = [found.length ? `${found.length} unit(s) answer on ${url}: ${found.join(', ')}` : `no unit answers on ${url}`];
  if (garbled.length) lines.push(`garbled replies for unit(s) ${garbled.join(', ')}: wrong baud rate/parity, or two devices with one id`);
  if (link) lines.push(`${link} id(s) not tried because the link was down`);
  return lines.join('\n');
}

export function formatSniffLine(l: SniffLine): string {
  const t = `${(l.at / 1000).toFixed(3).padStart(9)}s`;
  if (l.dir === 'link') return `${t} --  link ${l.meaning}`;
  return `${t} ${l.dir}  ${hex(l.bytes, 64).padEnd(36)}  ${l.meaning}`;
}
