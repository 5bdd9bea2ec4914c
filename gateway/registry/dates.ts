/**
 * Calendar dates as 'YYYY-MM-DD' strings (GB/T 7408 / ISO 8601): they compare
 * correctly as strings, and a date has no time zone to get wrong.
 */

function valid(y: number, m: number, d: number): boolean {
  if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * Parse YYYY-MM-DD (also YYYY/M/D and YYYY.M.D as spreadsheets write them) to
 * YYYY-MM-DD. With allowMonth, YYYY-MM is accepted as the month's first day (a
 * cylinder's stamped manufacture month, domain.md 2). Undefined if not a real date.
 */
export function parseDate(text: string, allowMonth = false): string | undefined {
  const m = /^(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?$/.exec(text.trim());
  if (!m) return undefined;
  if (m[3] === undefined && !allowMonth) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 1)];
  return valid(y, mo, d) ? `${pad(y, 4)}-${pad(mo)}-${pad(d)}` : undefined;
}

/** The same calendar day `years` later; 29 February becomes 28 February (earlier, so fail safe). */
export function addYears(date: string, years: number): string {
  const [y, m, d] = date.split('-').map(Number);
  const year = y + years;
  const day = Math.min(d, new Date(Date.UTC(year, m, 0)).getUTCDate());
  return `${pad(year, 4)}-${pad(m)}-${pad(day)}`;
}

/** The local calendar date of an epoch time (the station's time zone is the process's TZ). */
export function localDate(epochMs: number): string {
  const t = new Date(epochMs);
  return `${pad(t.getFullYear(), 4)}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
}

/** ISO 8601 local time with offset, e.g. 2026-03-01T08:30:00.000+08:00 (records are read by people). */
export function isoWithOffset(epochMs: number): string {
  const t = new Date(epochMs);
  const off = -t.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${localDate(epochMs)}T${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}
