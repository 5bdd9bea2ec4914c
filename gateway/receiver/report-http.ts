/**
 * The inspector's reports over HTTP (issue 10 point 10), served by the receiver itself:
 *
 *   GET  /login, POST /login (form or JSON {name, password}), POST /logout
 *   GET  /v1/reports/stations                                             JSON
 *   GET  /v1/reports/{summary|exceptions|persons|alarms}?station=&from=&to=&format=json|csv
 *   GET  /v1/reports/cylinder?code=&from=&to=&format=json|csv
 *   GET  /reports, /reports/{summary|exceptions|persons|alarms|cylinder}?…&lang=zh|en   HTML pages
 *
 * Every report route needs a login (session cookie); without one the API answers
 * 401 and a page redirects to the login form. Pages are plain HTML rendered here,
 * styles inline, no script and nothing from another host; every word comes from
 * the catalogue (gateway/i18n/reports.ts). `from` is inclusive, `to` exclusive,
 * ISO 8601 (a date alone is UTC midnight; give the offset, e.g. 2026-03-01T00:00:00+08:00).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { csvCell, parseTimeBound } from '../records/export.ts';
import { hasMessage, parseLang, reasonText, t, type Lang, type Params } from '../i18n/index.ts';
import { parseCookies } from '../http/auth.ts';
import { ReceiverAuth, type ReceiverUser, type RxSession } from './auth.ts';
import {
  alarmsReport, cylinderReport, exceptionsReport, exceptionKinds, personsReport, summaryReport,
  type AlarmsReport, type CylinderReport, type ExceptionRow, type ExceptionsReport, type PersonsReport, type ReportPeriod, type ReportSettings, type ReportSource, type SummaryReport,
} from './reports.ts';
import type { StationReport } from './store.ts';

export interface ReportHttpOptions {
  users?: ReceiverUser[];
  /** Signs session cookies (≥ 32 characters); absent = random per process. */
  sessionSecret?: string;
  sessionHours?: number;
  /** Language of a page that did not choose one (default zh). */
  lang?: Lang;
  settings?: Partial<ReportSettings>;
}

const STATION_REPORTS = ['summary', 'exceptions', 'persons', 'alarms'] as const;
type StationReportName = (typeof STATION_REPORTS)[number];
const PAGES = [...STATION_REPORTS, 'cylinder'] as const;
type PageName = (typeof PAGES)[number];
const LANG_COOKIE = 'fgrx_lang';

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class ReportHttp {
  readonly auth: ReceiverAuth;
  private readonly lang: Lang;

  constructor(private readonly src: ReportSource, private readonly overview: () => Promise<StationReport[]>, private readonly opts: ReportHttpOptions = {}) {
    this.auth = new ReceiverAuth(opts.users ?? [], { secret: opts.sessionSecret, ttlMs: (opts.sessionHours ?? 12) * 3_600_000 });
    this.lang = opts.lang ?? 'zh';
  }

  /** A promise when the request is one of these routes, else undefined (the caller routes it). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    const isApi = p === '/v1/reports' || p.startsWith('/v1/reports/');
    const isPage = p === '/reports' || p.startsWith('/reports/');
    if (p === '/login' || p === '/logout') return this.loginRoutes(req, res, url);
    if (!isApi && !isPage) return undefined;
    return (async () => {
      if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' });
      const session = this.auth.session(req.headers.cookie);
      if (!session) {
        if (isApi) return sendJson(res, 401, { error: 'log in first: POST /login' });
        return redirect(res, `/login?next=${encodeURIComponent(p + url.search)}`);
      }
      try {
        if (isApi) await this.api(p.split('/').filter(Boolean).slice(2), url, res);
        else await this.page(p.split('/').filter(Boolean).slice(1), url, req, res, session);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        if (isApi) sendJson(res, err.status, { error: err.message });
        else sendHtml(res, err.status, this.shell(this.langOf(req, url), session, '', `<p class="error">${esc(t('report.badRequest', this.langOf(req, url), { error: err.message }))}</p>`, url));
      }
    })();
  }

  // ---- login ----------------------------------------------------------------

  private async loginRoutes(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const lang = this.langOf(req, url);
    if (url.pathname === '/logout') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST /logout' });
      res.writeHead(303, { location: '/login', 'set-cookie': ReceiverAuth.clearCookie() });
      return void res.end();
    }
    if (req.method === 'GET') return sendHtml(res, 200, this.loginPage(lang, safeNext(url.searchParams.get('next'))));
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
    const text = await readBody(req, 8192);
    const json = /json/i.test(req.headers['content-type'] ?? '');
    let name = '';
    let password = '';
    let next = '/reports';
    if (json) {
      try {
        const b = JSON.parse(text) as { name?: unknown; password?: unknown };
        name = typeof b.name === 'string' ? b.name.trim() : '';
        password = typeof b.password === 'string' ? b.password : '';
      } catch {
        return sendJson(res, 400, { error: 'body is not JSON' });
      }
    } else {
      const f = new URLSearchParams(text);
      name = (f.get('name') ?? '').trim();
      password = f.get('password') ?? '';
      next = safeNext(f.get('next'));
    }
    const key = `${req.socket.remoteAddress ?? '?'}|${name}`;
    const fail = (status: number, msgKey: 'login.failed' | 'login.throttled') =>
      json ? sendJson(res, status, { error: t(msgKey, 'en') }) : sendHtml(res, status, this.loginPage(lang, next, t(msgKey, lang)));
    if (this.auth.throttle.blocked(key)) return fail(429, 'login.throttled');
    const user = name && password ? await this.auth.check(name, password) : undefined;
    if (!user) {
      this.auth.throttle.fail(key);
      return fail(401, 'login.failed');
    }
    this.auth.throttle.succeed(key);
    const { cookie, session } = this.auth.issue(user);
    if (json) return sendJson(res, 200, { user: { name: session.name, role: session.role, expiresAt: session.expiresAt } }, { 'set-cookie': cookie });
    res.writeHead(303, { location: next, 'set-cookie': cookie });
    res.end();
  }

  private loginPage(lang: Lang, next: string, error?: string): string {
    const body = `<h1>${esc(t('report.login.title', lang))}</h1>
${error ? `<p class="error" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="/login?lang=${lang}" id="login-form">
<input type="hidden" name="next" value="${esc(next)}">
<label>${esc(t('login.name', lang))} <input id="login-name" name="name" autocomplete="username" required></label>
<label>${esc(t('login.password', lang))} <input id="login-password" name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">${esc(t('login.submit', lang))}</button>
</form>
<p><a href="/login?lang=${lang === 'zh' ? 'en' : 'zh'}&amp;next=${encodeURIComponent(next)}">${esc(t('lang.other', lang))}</a></p>`;
    return document(lang, t('report.login.title', lang), body);
  }

  // ---- JSON and CSV -----------------------------------------------------------

  private period(url: URL, needStation = true): ReportPeriod {
    const station = url.searchParams.get('station') ?? '';
    if (needStation && !station) throw new HttpError(400, 'station is required (?station=CODE)');
    try {
      return { station, fromMs: parseTimeBound(url.searchParams.get('from') ?? undefined, 'from'), toMs: parseTimeBound(url.searchParams.get('to') ?? undefined, 'to') };
    } catch (err) {
      throw new HttpError(400, (err as Error).message);
    }
  }

  private async run(name: StationReportName | 'cylinder', url: URL): Promise<SummaryReport | ExceptionsReport | PersonsReport | AlarmsReport | CylinderReport> {
    const s = this.opts.settings;
    if (name === 'cylinder') {
      const code = url.searchParams.get('code') ?? '';
      if (!code) throw new HttpError(400, 'code is required (?code=CYLINDER)');
      const q = this.period(url, false);
      return cylinderReport(this.src, code, q, s);
    }
    const q = this.period(url);
    if (name === 'summary') return summaryReport(this.src, q, s);
    if (name === 'exceptions') return exceptionsReport(this.src, q, s);
    if (name === 'persons') return personsReport(this.src, q, s);
    return alarmsReport(this.src, q);
  }

  private async api(parts: string[], url: URL, res: ServerResponse): Promise<void> {
    const name = parts[0];
    if (parts.length === 1 && name === 'stations') return sendJson(res, 200, { stations: await this.overview() });
    if (parts.length !== 1 || !(PAGES as readonly string[]).includes(name)) throw new HttpError(404, `no report ${parts.join('/')}: ${PAGES.join(', ')}, stations`);
    const format = url.searchParams.get('format') ?? 'json';
    if (format !== 'json' && format !== 'csv') throw new HttpError(400, 'format must be json or csv');
    const report = await this.run(name as PageName, url);
    if (format === 'json') return sendJson(res, 200, report);
    const file = `${name}-${url.searchParams.get('station') ?? url.searchParams.get('code') ?? ''}.csv`.replace(/[^A-Za-z0-9._-]/g, '_');
    res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${file}"` });
    res.end(toCsv(name as PageName, report));
  }

  // ---- pages ----------------------------------------------------------------

  private langOf(req: IncomingMessage, url: URL): Lang {
    return parseLang(url.searchParams.get('lang')) ?? parseLang(parseCookies(req.headers.cookie)[LANG_COOKIE]) ?? this.lang;
  }

  private async page(parts: string[], url: URL, req: IncomingMessage, res: ServerResponse, session: RxSession): Promise<void> {
    const lang = this.langOf(req, url);
    const headers: Record<string, string> = {};
    if (parseLang(url.searchParams.get('lang'))) headers['set-cookie'] = `${LANG_COOKIE}=${lang}; Path=/; SameSite=Strict; Max-Age=31536000`;
    const name = parts[0] ?? 'index';
    if (parts.length > 1 || (name !== 'index' && !(PAGES as readonly string[]).includes(name))) throw new HttpError(404, `no page ${parts.join('/')}`);
    let body: string;
    if (name === 'index') body = await this.indexBody(lang, url);
    else if (name === 'cylinder') {
      body = await this.filterForm(lang, url, 'cylinder');
      if (url.searchParams.get('code')) body += cylinderHtml(lang, (await this.run('cylinder', url)) as CylinderReport) + this.downloads(lang, url, 'cylinder');
      else body += `<p>${esc(t('report.cylinder.enter', lang))}</p>`;
    } else {
      body = await this.filterForm(lang, url, name);
      if (url.searchParams.get('station')) {
        const r = await this.run(name as StationReportName, url);
        body += periodLine(lang, r as { from?: string; to?: string });
        if (name === 'summary') body += summaryHtml(lang, r as SummaryReport);
        else if (name === 'exceptions') body += exceptionsHtml(lang, r as ExceptionsReport);
        else if (name === 'persons') body += personsHtml(lang, r as PersonsReport);
        else body += alarmsHtml(lang, r as AlarmsReport);
        body += this.downloads(lang, url, name);
      } else body += `<p>${esc(t('report.noStation', lang))}</p>`;
    }
    sendHtml(res, 200, this.shell(lang, session, name, body, url), headers);
  }

  private keep(url: URL, over: Record<string, string> = {}): string {
    const q = new URLSearchParams();
    for (const k of ['station', 'from', 'to', 'code', 'lang']) {
      const v = over[k] ?? url.searchParams.get(k);
      if (v) q.set(k, v);
    }
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  private shell(lang: Lang, session: RxSession, current: string, body: string, url: URL): string {
    const nav = PAGES.map((p) => `<a href="/reports/${p}${esc(this.keep(url))}" data-nav="${p}"${p === current ? ' class="on"' : ''}>${esc(t(`report.nav.${p}`, lang))}</a>`).join(' ');
    const other: Lang = lang === 'zh' ? 'en' : 'zh';
    const head = `<header><a href="/reports${esc(this.keep(url))}" class="brand">${esc(t('report.title', lang))}</a> <nav>${nav}</nav>
<span class="right"><span id="who">${esc(t('report.user', lang, { name: session.name, role: t(`report.role.${session.role}`, lang) }))}</span>
<a href="${esc(url.pathname + this.keep(url, { lang: other }))}" id="lang-switch">${esc(t('lang.other', lang))}</a>
<form method="post" action="/logout" class="inline"><button type="submit" id="logout">${esc(t('report.logout', lang))}</button></form></span></header>`;
    const title = current && current !== 'index' ? t(`report.nav.${current}`, lang) : t('report.title', lang);
    return document(lang, title, head + `<main data-report="${esc(current)}">${body}</main>`);
  }

  private async filterForm(lang: Lang, url: URL, name: string): Promise<string> {
    const v = (k: string) => esc(url.searchParams.get(k) ?? '');
    let fields: string;
    if (name === 'cylinder') {
      // The station chosen on the other pages is kept for them.
      fields = `${url.searchParams.get('station') ? `<input type="hidden" name="station" value="${v('station')}">` : ''}<label>${esc(t('report.cylinder.code', lang))} <input name="code" id="f-code" value="${v('code')}" required></label>`;
    } else {
      const stations = await this.src.stationList();
      const cur = url.searchParams.get('station') ?? '';
      fields = `<label>${esc(t('report.station', lang))} <select name="station" id="f-station">${['', ...stations].map((s) => `<option value="${esc(s)}"${s === cur ? ' selected' : ''}>${esc(s || '—')}</option>`).join('')}</select></label>`;
    }
    fields += ` <label>${esc(t('report.from', lang))} <input name="from" id="f-from" value="${v('from')}" placeholder="2026-03-01T00:00:00+08:00"></label>`;
    fields += ` <label>${esc(t('report.to', lang))} <input name="to" id="f-to" value="${v('to')}" placeholder="2026-04-01T00:00:00+08:00"></label>`;
    return `<h1>${esc(t(name === 'cylinder' ? 'report.cylinder.title' : `report.${name}.title`, lang))}</h1>
<form method="get" action="/reports/${name}" class="filter" id="filter"><input type="hidden" name="lang" value="${lang}">${fields} <button type="submit" id="f-show">${esc(t('report.show', lang))}</button></form>`;
  }

  private downloads(lang: Lang, url: URL, name: string): string {
    const q = this.keep(url, { lang: '' }).replace(/^\?/, '');
    const link = (f: string) => `<a href="/v1/reports/${name}?${esc(q)}${q ? '&amp;' : ''}format=${f}" data-download="${f}">${f.toUpperCase()}</a>`;
    return `<p class="downloads">${esc(t('report.download', lang))}: ${link('csv')} ${link('json')}</p>`;
  }

  private async indexBody(lang: Lang, url: URL): Promise<string> {
    const rows = (await this.overview())
      .map((s) => {
        const links = STATION_REPORTS.map((p) => `<a href="/reports/${p}${esc(this.keep(url, { station: s.station }))}">${esc(t(`report.nav.${p}`, lang))}</a>`).join(' · ');
        return `<tr data-station="${esc(s.station)}"><td>${esc(s.station)}</td><td class="n">${s.accepted}</td><td>${esc(s.lastRecordAt ?? '')}</td><td class="n">${s.missing}</td><td class="n">${s.late}</td><td class="n">${s.rejected}</td><td>${links}</td></tr>`;
      })
      .join('\n');
    const th = ['report.station', 'report.accepted', 'report.lastRecord', 'report.gaps', 'report.late', 'report.rejectedCount', 'report.nav.summary'].map((k, i) => `<th>${i === 6 ? '' : esc(t(k, lang))}</th>`).join('');
    return `<h1>${esc(t('report.stations', lang))}</h1><table id="stations"><thead><tr>${th}</tr></thead><tbody>${rows || `<tr><td colspan="7">${esc(t('report.none', lang))}</td></tr>`}</tbody></table>`;
  }
}

// ---- rendering ------------------------------------------------------------------

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:.5em 1em;display:flex;flex-wrap:wrap;gap:1em;align-items:center}
header a{color:#fff;text-decoration:none;margin-right:.8em}header a.on{font-weight:bold;text-decoration:underline}
.brand{font-weight:bold}.right{margin-left:auto;display:flex;gap:.8em;align-items:center}form.inline{display:inline}
main{padding:1em 1.5em}table{border-collapse:collapse;background:#fff;margin:.5em 0 1.2em}th,td{border:1px solid #d0d5dc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#e8ecf1}td.n{text-align:right;font-variant-numeric:tabular-nums}tr.breach td{background:#fdecea}tr.flag td{background:#fff4e0}
.error{color:#b00020;font-weight:bold}.filter label{margin-right:.6em}.filter input{width:16em}.muted{color:#667}
.kind{font-weight:bold}.validity-expired{color:#b00020;font-weight:bold}.validity-valid{color:#176b2c}`;

function document(lang: Lang, title: string, body: string): string {
  return `<!doctype html>
<html lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>
`;
}

function periodLine(lang: Lang, r: { from?: string; to?: string }): string {
  const all = t('report.periodAll', lang);
  return `<p class="muted">${esc(t('report.period', lang, { from: r.from ?? all, to: r.to ?? all }))}</p>`;
}

const outcomeText = (code: string, lang: Lang) => (hasMessage(`outcome.${code}`) ? t(`outcome.${code}`, lang) : code);

function countTable(id: string, lang: Lang, counts: Record<string, number>, meaning: (code: string) => string): string {
  const rows = Object.entries(counts).map(([code, n]) => `<tr data-code="${esc(code)}"><td>${esc(code)}</td><td>${esc(meaning(code))}</td><td class="n">${n}</td></tr>`).join('');
  return `<table id="${id}"><thead><tr><th>${esc(t('report.col.code', lang))}</th><th>${esc(t('report.col.meaning', lang))}</th><th>${esc(t('report.col.count', lang))}</th></tr></thead><tbody>${rows || `<tr><td colspan="3">${esc(t('report.none', lang))}</td></tr>`}</tbody></table>`;
}

function summaryHtml(lang: Lang, r: SummaryReport): string {
  return `<table id="totals"><tbody>
<tr><th>${esc(t('report.summary.records', lang))}</th><td class="n" data-total="records">${r.records}</td></tr>
<tr><th>${esc(t('report.summary.fills', lang))}</th><td class="n" data-total="fills">${r.fills}</td></tr>
<tr><th>${esc(t('report.summary.netKg', lang))}</th><td class="n">${r.netFilledKg.toFixed(3)}</td></tr></tbody></table>
<h2>${esc(t('report.summary.byOutcome', lang))}</h2>${countTable('by-outcome', lang, r.byOutcome, (c) => outcomeText(c, lang))}
<h2>${esc(t('report.summary.byRefusal', lang))}</h2>${countTable('by-refusal', lang, r.byRefusal, (c) => reasonText(c)[lang])}
<h2>${esc(t('report.summary.byTrip', lang))}</h2>${countTable('by-trip', lang, r.byTrip, (c) => reasonText(c)[lang])}
<h2>${esc(t('report.summary.byPost', lang))}</h2>${countTable('by-post', lang, r.byPost, () => '')}`;
}

/** The facts of an exception as one line in `lang` (values formatted for people). */
export function exceptionDetail(e: ExceptionRow, lang: Lang): string {
  const f: Params = { ...e.facts };
  if (e.kind === 'unauthorised_fill') {
    f.netKg = typeof e.facts.netKg === 'number' && e.facts.netKg > 0 ? `${e.facts.netKg} kg` : '';
    f.detail = e.facts.detail ? ` ${e.facts.detail}` : '';
  }
  if (e.kind === 'certificate_expired') f.role = t(e.facts.role === 'checker' ? 'report.col.checker' : 'report.col.filler', lang);
  return t(`report.exc.${e.kind}.detail`, lang, f);
}

function exceptionsHtml(lang: Lang, r: ExceptionsReport): string {
  const counts = exceptionKinds
    .map((k) => `<tr data-kind="${k}"${r.counts[k] > 0 ? ' class="breach"' : ''}><td>${esc(t(`report.exc.${k}`, lang))}</td><td class="n" data-count="${k}">${r.counts[k]}</td></tr>`)
    .join('');
  const th = ['report.col.kind', 'report.col.at', 'report.station', 'report.col.seq', 'report.col.post', 'report.col.cylinder', 'report.col.who', 'report.col.detail', 'report.col.source'].map((k) => `<th>${esc(t(k, lang))}</th>`).join('');
  const rows = r.exceptions
    .map(
      (e) =>
        `<tr class="breach" data-kind="${e.kind}" data-seq="${e.seq ?? ''}" data-source="${e.source}"><td class="kind">${esc(t(`report.exc.${e.kind}`, lang))}</td><td>${esc(e.at)}</td><td>${esc(e.station)}</td><td class="n">${e.seq ?? ''}</td><td>${esc(e.post ?? '')}</td><td>${esc(e.cylinderCode ?? '')}</td><td>${esc(e.who ?? '')}</td><td>${esc(exceptionDetail(e, lang))}</td><td>${esc(t(`report.source.${e.source}`, lang))}</td></tr>`,
    )
    .join('\n');
  return `<p id="exceptions-total">${esc(t('report.exceptions.total', lang, { n: r.exceptions.length }))}</p>
<table id="exception-counts"><tbody>${counts}</tbody></table>
${r.eventsAvailable ? '' : `<p class="muted" id="no-events">${esc(t('report.noEvents', lang))}</p>`}
<table id="exceptions"><thead><tr>${th}</tr></thead><tbody>${rows || `<tr><td colspan="9">${esc(t('report.none', lang))}</td></tr>`}</tbody></table>`;
}

function personsHtml(lang: Lang, r: PersonsReport): string {
  const th = ['report.col.name', 'report.col.certificate', 'report.col.expires', 'report.col.validity', 'report.col.badges', 'report.col.fills', 'report.col.checks', 'report.col.afterExpiry', 'report.col.selfChecked'].map((k) => `<th>${esc(t(k, lang))}</th>`).join('');
  const rows = r.persons
    .map((p) => {
      const bad = p.validity === 'expired' || p.validity === 'none' || p.selfChecked > 0;
      return `<tr data-person="${esc(p.key)}" data-validity="${p.validity}"${bad ? ' class="breach"' : ''}><td>${esc(p.name ?? '')}</td><td>${esc(p.certificate ?? '')}</td><td>${esc(p.certificateExpires ?? '')}</td><td class="validity-${p.validity}">${esc(t(`report.validity.${p.validity}`, lang))}</td><td>${esc(p.badges.join(', '))}</td><td class="n">${p.fills}</td><td class="n">${p.checks}</td><td class="n">${p.afterExpiry}</td><td class="n">${p.selfChecked}</td></tr>`;
    })
    .join('\n');
  return `<table id="persons"><thead><tr>${th}</tr></thead><tbody>${rows || `<tr><td colspan="9">${esc(t('report.none', lang))}</td></tr>`}</tbody></table>`;
}

function cylinderHtml(lang: Lang, r: CylinderReport): string {
  const th = ['report.col.at', 'report.station', 'report.col.unit', 'report.col.seq', 'report.col.post', 'report.col.outcome', 'report.col.netKg', 'report.col.filler', 'report.col.checker', 'report.col.flag'].map((k) => `<th>${esc(t(k, lang))}</th>`).join('');
  const rows = r.history
    .map((h) => {
      const flag = h.flag ? `${t(`report.flag.${h.flag}`, lang)}; ${t('report.flag.previous', lang, h.previous)}` : '';
      return `<tr data-station="${esc(h.station)}" data-seq="${h.seq}"${h.flag ? ` class="flag" data-flag="${h.flag}"` : ''}><td>${esc(h.at)}</td><td>${esc(h.station)}</td><td>${esc(h.unit)}</td><td class="n">${h.seq}</td><td>${esc(h.post)}</td><td>${esc(outcomeText(h.outcome, lang))}</td><td class="n">${h.netFilledKg ?? ''}</td><td>${esc(h.filler ?? '')}</td><td>${esc(h.checker ?? '')}</td><td>${esc(flag)}</td></tr>`;
    })
    .join('\n');
  const sum = t('report.cylinder.summary', lang, { n: r.history.length, stations: r.stations.length, units: r.units.length, flagged: r.flagged, min: r.refillIntervalMin });
  return `<p id="cylinder-summary">${esc(sum)}</p>${r.truncated ? `<p class="muted">${esc(t('report.cylinder.truncated', lang, { n: r.history.length }))}</p>` : ''}
<table id="history"><thead><tr>${th}</tr></thead><tbody>${rows || `<tr><td colspan="10">${esc(t('report.none', lang))}</td></tr>`}</tbody></table>`;
}

function alarmsHtml(lang: Lang, r: AlarmsReport): string {
  if (!r.eventsAvailable) return `<p class="muted" id="no-events">${esc(t('report.noEvents', lang))}</p>`;
  const th = ['report.col.at', 'report.col.seq', 'report.col.event', 'report.col.post', 'report.col.subject', 'report.col.by', 'report.col.reason', 'report.col.detail'].map((k) => `<th>${esc(t(k, lang))}</th>`).join('');
  const rows = r.events
    .map((e) => {
      const kind = hasMessage(`report.event.${e.kind}`) ? t(`report.event.${e.kind}`, lang) : e.kind;
      const reason = e.reason && hasMessage(`reason.${e.reason}`) ? `${e.reason} ${reasonText(e.reason)[lang]}` : (e.reason ?? '');
      return `<tr data-kind="${esc(e.kind)}" data-seq="${e.seq}"${e.kind === 'alarm.raised' || e.kind === 'fill.unauthorised' ? ' class="breach"' : ''}><td>${esc(e.at)}</td><td class="n">${e.seq}</td><td>${esc(kind)}</td><td>${esc(e.post ?? '')}</td><td>${esc(e.subject ?? '')}</td><td>${esc(e.by ?? '')}</td><td>${esc(reason)}</td><td>${esc(e.detail ?? '')}</td></tr>`;
    })
    .join('\n');
  return `<table id="alarms"><thead><tr>${th}</tr></thead><tbody>${rows || `<tr><td colspan="8">${esc(t('report.none', lang))}</td></tr>`}</tbody></table>`;
}

// ---- CSV ------------------------------------------------------------------------

function csv(header: string[], rows: (string | number | boolean | undefined)[][]): string {
  return [header.join(','), ...rows.map((r) => r.map((v) => csvCell(v)).join(','))].join('\r\n') + '\r\n';
}

export function toCsv(name: PageName, report: unknown): string {
  if (name === 'summary') {
    const r = report as SummaryReport;
    const rows: (string | number)[][] = [];
    for (const [group, m] of [['outcome', r.byOutcome], ['refusal', r.byRefusal], ['trip', r.byTrip], ['post', r.byPost]] as const) for (const [code, n] of Object.entries(m)) rows.push([r.station, group, code, n]);
    return csv(['station', 'group', 'code', 'count'], rows);
  }
  if (name === 'exceptions') {
    const r = report as ExceptionsReport;
    return csv(
      ['kind', 'station', 'source', 'seq', 'at', 'post', 'cylinderCode', 'outcome', 'who', 'detail'],
      r.exceptions.map((e) => [e.kind, e.station, e.source, e.seq, e.at, e.post, e.cylinderCode, e.outcome, e.who, exceptionDetail(e, 'en')]),
    );
  }
  if (name === 'persons') {
    const r = report as PersonsReport;
    return csv(
      ['station', 'person', 'name', 'certificate', 'certificateExpires', 'validity', 'badges', 'fills', 'checks', 'afterExpiry', 'selfChecked', 'firstAt', 'lastAt'],
      r.persons.map((p) => [r.station, p.key, p.name, p.certificate, p.certificateExpires, p.validity, p.badges.join(';'), p.fills, p.checks, p.afterExpiry, p.selfChecked, p.firstAt, p.lastAt]),
    );
  }
  if (name === 'cylinder') {
    const r = report as CylinderReport;
    return csv(
      ['code', 'station', 'unit', 'seq', 'post', 'at', 'outcome', 'netFilledKg', 'filler', 'checker', 'flag', 'previousStation', 'previousUnit', 'previousSeq', 'minutesApart'],
      r.history.map((h) => [r.code, h.station, h.unit, h.seq, h.post, h.at, h.outcome, h.netFilledKg, h.filler, h.checker, h.flag, h.previous?.station, h.previous?.unit, h.previous?.seq, h.previous?.minutesApart]),
    );
  }
  const r = report as AlarmsReport;
  return csv(['station', 'seq', 'at', 'kind', 'post', 'subject', 'by', 'reason', 'detail'], r.events.map((e) => [e.station, e.seq, e.at, e.kind, e.post, e.subject, e.by, e.reason, e.detail]));
}

// ---- plumbing -------------------------------------------------------------------

/** Only a path on this receiver's reports (never another host: no open redirect). */
function safeNext(v: string | null): string {
  return v && /^\/(reports|v1\/reports)(\/|\?|$)/.test(v) && !v.startsWith('//') ? v : '/reports';
}

async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new HttpError(413, 'body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location });
  res.end();
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
    // Nothing from another host, no script at all.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(html);
}
