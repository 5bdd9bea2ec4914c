/**
 * The station dashboard's API (issue 6 point 1) and its static screens. Every
 * route but login, the catalogue and the screens' files needs a session; every
 * mutating route checks the role (auth.ts `permissions`), and a refusal says
 * which roles may. Handlers catch their own errors: a bad request is a 4xx
 * with a bilingual message, never a crashed server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, isFillgateError } from '../../../protocols/errors.ts';
import type { Station } from '../../runtime/station.ts';
import type { Logger } from '../../log.ts';
import { catalogForBrowser, parseLang, t } from '../../i18n/index.ts';
import type { ImportFormat, ImportMode } from '../../registry/import.ts';
import type { CylinderStatus, Role } from '../../registry/types.ts';
import type { HttpConfig } from '../config.ts';
import { LoginThrottle, SessionKeeper, SESSION_COOKIE, can, checkLogin, clearSessionCookie, parseCookies, permissions, sessionCookie, type Action, type Session } from '../auth.ts';
import { stationStatus } from '../status.ts';
import { LiveHub } from './live.ts';
import { CSV_EXPORT_MAX, parseRecordQuery, recordConditions } from './records.ts';
import { RecordQueries } from './record-queries.ts';
import { pipeChunks } from '../../records/export-stream.ts';
import { exportFrom } from '../../records/export-runner.ts';
import { ApiError, badRequest, readBodyBytes, readJson, sendError, sendJson } from './reply.ts';
import type { ImportRefusal } from '../../runtime/registry-imports.ts';
import { stationIso } from '../../station-time.ts';
import { StaticFiles } from './static.ts';
import { leakConditions, recordReasons } from './view.ts';
import { resetLeakLatch } from '../../runtime/latch-wiring.ts';
import type { FillRecordV1 } from '../../records/record.ts';
import { isoWithOffset } from '../../records/record.ts';

type Handler = (ctx: Ctx) => Promise<void> | void;
interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: string[];
  session?: Session;
}
interface Route {
  method: string;
  path: RegExp;
  /** Undefined: open (login, catalogue). */
  action?: Action;
  handler: Handler;
}

/** 80k cylinder rows are ~7 MB of CSV. */
const IMPORT_LIMIT = 16 * 1024 * 1024;

export class Dashboard {
  readonly hub: LiveHub;
  readonly sessions: SessionKeeper;
  private readonly throttle = new LoginThrottle();
  private readonly files = new StaticFiles();
  private readonly routes: Route[];
  private queries?: RecordQueries;

  constructor(private readonly station: Station, private readonly http: HttpConfig, private readonly log: Logger) {
    this.hub = new LiveHub(station, { hz: http.liveHz, log, wall: () => station.clock.wall() });
    this.sessions = new SessionKeeper({ secret: http.sessionSecret, ttlMs: http.sessionHours * 3_600_000, clock: station.clock, users: () => http.users });
    const r = (method: string, path: RegExp, action: Action | undefined, handler: Handler): Route => ({ method, path, action, handler });
    this.routes = [
      r('GET', /^\/api\/i18n$/, undefined, (c) => sendJson(c.res, 200, { defaultLang: this.http.lang, catalog: catalogForBrowser() })),
      r('GET', /^\/api\/session$/, undefined, (c) => this.sessionInfo(c)),
      r('POST', /^\/api\/login$/, undefined, (c) => this.login(c)),
      r('POST', /^\/api\/logout$/, undefined, (c) => this.logout(c)),
      r('GET', /^\/api\/posts$/, 'view', (c) => sendJson(c.res, 200, { posts: this.hub.tiles(), banner: this.hub.banner() })),
      r('GET', /^\/api\/live$/, 'view', (c) => this.live(c)),
      r('POST', /^\/api\/posts\/([^/]+)\/reset$/, 'resetPost', (c) => this.resetPost(c)),
      r('POST', /^\/api\/leak\/reset$/, 'resetLeak', (c) => this.resetLeak(c)),
      r('POST', /^\/api\/store\/reset$/, 'resetStore', (c) => this.resetStore(c)),
      r('GET', /^\/api\/records$/, 'view', (c) => this.records(c)),
      r('GET', /^\/api\/records\.csv$/, 'exportRecords', (c) => this.recordsCsv(c)),
      r('GET', /^\/api\/registry\/cylinders$/, 'view', (c) => this.cylinders(c)),
      r('GET', /^\/api\/registry\/operators$/, 'view', (c) => this.operators(c)),
      r('POST', /^\/api\/registry\/import$/, 'importRegistry', (c) => this.importRegistry(c)),
      r('GET', /^\/api\/status$/, 'view', (c) => sendJson(c.res, 200, stationStatus(this.station))),
      r('GET', /^\/api\/exceptions$/, 'view', (c) => sendJson(c.res, 200, { exceptions: this.station.exceptions.open(c.url.searchParams.get('post') || undefined) })),
      r('POST', /^\/api\/exceptions\/(\d+)\/close$/, 'closeException', (c) => this.closeException(c)),
      r('POST', /^\/api\/registry\/cylinders\/([^/]+)\/decant$/, 'recordDecant', (c) => this.recordDecant(c)),
    ];
  }

  start(): void {
    this.hub.start();
  }

  stop(): void {
    this.hub.stop();
    void this.queries?.close();
    this.queries = undefined;
  }

  /** True when the request was the dashboard's (answered here). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname;
    if (!path.startsWith('/api/')) return (req.method === 'GET' || req.method === 'HEAD') && this.files.serve(req, res, path);
    const route = this.routes.find((x) => x.path.test(path) && x.method === req.method);
    try {
      if (!route) throw new ApiError(404, 'NOT_FOUND', 'err.notFound');
      const ctx: Ctx = { req, res, url, params: (route.path.exec(path) ?? []).slice(1).map(decodeURIComponent) };
      ctx.session = this.sessions.verify(parseCookies(req.headers.cookie)[SESSION_COOKIE]);
      if (route.action) this.authorize(ctx, route.action);
      if (req.method !== 'GET') this.sameOrigin(req);
      await route.handler(ctx);
    } catch (err) {
      this.fail(res, err);
    }
    return true;
  }

  private authorize(ctx: Ctx, action: Action): void {
    if (!ctx.session) throw new ApiError(401, 'UNAUTHORIZED', 'err.unauthorized');
    if (!can(ctx.session.role, action)) {
      this.log.warn({ user: ctx.session.name, role: ctx.session.role, action, path: ctx.url.pathname }, 'dashboard action refused for the role');
      const names = (lang: 'zh' | 'en') => permissions[action].map((role) => t(`role.${role}`, lang)).join(' / ');
      const text = { zh: t('err.forbidden', 'zh', { roles: names('zh') }), en: t('err.forbidden', 'en', { roles: names('en') }) };
      throw new ApiError(403, 'FORBIDDEN', 'err.forbidden', {}, { needs: permissions[action] }, text);
    }
  }

  /** SameSite=Strict keeps other sites' forms from using the cookie; a foreign Origin is refused as well (older panels' browsers). */
  private sameOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (!origin || origin === 'null') return;
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      throw new ApiError(403, 'FORBIDDEN_ORIGIN', 'err.badRequest', { detail: 'bad Origin' });
    }
    if (host !== req.headers.host) throw new ApiError(403, 'FORBIDDEN_ORIGIN', 'err.badRequest', { detail: `request from another site (${origin})` });
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof ApiError) return sendError(res, err);
    if (isFillgateError(err, 'BAD_PAYLOAD')) return sendError(res, badRequest(err.message));
    this.log.error({ err: errorMessage(err) }, 'dashboard request failed');
    sendError(res, new ApiError(500, 'SERVER_ERROR', 'err.server', { detail: errorMessage(err) }));
  }

  private sessionInfo(c: Ctx): void {
    const lang = parseLang(parseCookies(c.req.headers.cookie).fg_lang) ?? this.http.lang;
    const s = c.session;
    const allowed = s ? (Object.keys(permissions) as Action[]).filter((a) => can(s.role, a)) : [];
    sendJson(c.res, 200, { user: s ? { name: s.name, role: s.role, expiresAt: s.expiresAt } : null, allowed, lang, usersConfigured: this.http.users.length > 0, station: this.station.config.station });
  }

  private async login(c: Ctx): Promise<void> {
    const body = await readJson(c.req, 4096);
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (!name || !password) throw badRequest('name and password');
    const key = `${c.req.socket.remoteAddress ?? '?'}|${name}`;
    if (this.throttle.blocked(key)) throw new ApiError(429, 'TOO_MANY_ATTEMPTS', 'login.throttled');
    const user = await checkLogin(this.http.users, name, password);
    if (!user) {
      this.throttle.fail(key);
      this.log.warn({ user: name, from: c.req.socket.remoteAddress }, 'dashboard login failed');
      throw new ApiError(401, 'LOGIN_FAILED', 'login.failed');
    }
    this.throttle.succeed(key);
    const { token, session } = this.sessions.issue(user);
    this.log.info({ user: user.name, role: user.role }, 'dashboard login');
    sendJson(c.res, 200, { user: { name: session.name, role: session.role, expiresAt: session.expiresAt } }, { 'set-cookie': sessionCookie(token, this.http.sessionHours * 3600) });
  }

  private logout(c: Ctx): void {
    if (c.session) this.sessions.revoke(c.session);
    sendJson(c.res, 200, { ok: true }, { 'set-cookie': clearSessionCookie() });
  }

  private live(c: Ctx): void {
    if (!this.hub.attach(c.res, c.session!.expiresAt)) throw new ApiError(503, 'TOO_MANY_SCREENS', 'err.server', { detail: 'too many live screens' });
  }

  private resetPost(c: Ctx): void {
    const post = c.params[0];
    if (!this.station.posts.has(post)) throw new ApiError(404, 'NOT_FOUND', 'err.notFound');
    const before = this.station.posts.get(post)!.snapshot.phase.kind;
    this.station.resetPost(post, `web:${c.session!.name}`);
    const after = this.station.posts.get(post)!.snapshot.phase.kind;
    this.log.warn({ user: c.session!.name, post, before, after }, 'post reset from the dashboard');
    sendJson(c.res, 200, { ok: true, post, before, phase: after });
  }

  /** The supervisor's reset of the latched leak lock: refused, with the reasons, while any detector is not clear (domain.md 5). */
  private resetLeak(c: Ctx): void {
    const leak = this.station.leak;
    if (!leak) throw new ApiError(409, 'NO_LEAK_INTERLOCK', 'status.mqttOff');
    if (!leak.locked) throw new ApiError(409, 'NOT_LOCKED', 'banner.notLocked');
    const who = `web:${c.session!.name}`;
    const r = resetLeakLatch(this.station.latches, leak, who, this.log);
    this.log.warn({ user: c.session!.name, ok: r.ok, reasons: r.reasons }, r.ok ? 'leak lock reset from the dashboard' : 'leak lock reset from the dashboard refused');
    if (!r.ok) throw new ApiError(409, 'RESET_REFUSED', 'banner.resetRefused', {}, { conditions: leakConditions(leak.interlock.state), reasons: r.reasons });
    sendJson(c.res, 200, { ok: true, by: who });
  }

  /** The supervisor's reset of the store lock a failed commit latched, once the cause is fixed: refused while the store still cannot be written. */
  private resetStore(c: Ctx): void {
    if (!this.station.latches.has('store')) throw new ApiError(409, 'NOT_LOCKED', 'banner.storeNotLatched');
    const who = `web:${c.session!.name}`;
    const r = this.station.resetStoreLatch(who);
    this.log.warn({ user: c.session!.name, ok: r.ok, reason: r.reason }, r.ok ? 'store lock reset from the dashboard' : 'store lock reset from the dashboard refused');
    if (!r.ok) throw new ApiError(409, 'RESET_REFUSED', 'banner.storeResetRefused', {}, { reason: r.reason });
    sendJson(c.res, 200, { ok: true, by: who, ...(r.reason ? { note: r.reason } : {}) });
  }

  /** A supervisor closes out an open exception (unchecked cylinder, unauthorised fill) with a note of what was done. */
  private async closeException(c: Ctx): Promise<void> {
    const body = await readJson(c.req, 4096);
    const note = typeof body.note === 'string' ? body.note.trim() : '';
    if (!note) throw badRequest('note: what was done');
    const e = this.station.closeException(Number(c.params[0]), `web:${c.session!.name}`, note);
    sendJson(c.res, 200, { exception: e });
  }

  /** A supervisor records the decant of a held (overfilled) cylinder: body { removedKg, by (supervisor badge), at?, note? }. */
  private async recordDecant(c: Ctx): Promise<void> {
    const body = await readJson(c.req, 4096);
    const removedKg = typeof body.removedKg === 'number' ? body.removedKg : Number.NaN;
    const by = typeof body.by === 'string' ? body.by.trim() : '';
    if (!by) throw badRequest('by: the supervisor badge who decanted');
    const d = {
      removedKg, by,
      ...(typeof body.at === 'string' ? { at: body.at } : {}),
      ...(typeof body.note === 'string' ? { note: body.note } : {}),
    };
    const decant = this.station.recordDecant(c.params[0], d, `web:${c.session!.name}`);
    sendJson(c.res, 200, { decant });
  }

  /** In a worker (record-queries.ts): a filtered count over 50k records is ~1 s of SQLite work. */
  private async records(c: Ctx): Promise<void> {
    const q = parseRecordQuery(c.url.searchParams, this.station.utcOffsetMinutes);
    const limit = Math.min(1000, Math.max(1, Number(c.url.searchParams.get('limit')) || 200));
    this.queries ??= new RecordQueries(this.station.store.db);
    const { total, records } = await this.queries.find(q, limit);
    sendJson(c.res, 200, { total, limit, records: records.map(recordRow) });
  }

  /** Read and formatted in a worker, streamed with backpressure (records/export-runner.ts): 50k records are ~2 s of work, none of it on this loop. */
  private async recordsCsv(c: Ctx): Promise<void> {
    const q = parseRecordQuery(c.url.searchParams, this.station.utcOffsetMinutes);
    // The station's calendar day, as the records' times are written (the station's one UTC offset).
    const day = isoWithOffset(this.station.clock.wall(), this.station.utcOffsetMinutes).slice(0, 10);
    c.res.writeHead(200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="fill-records-${this.station.config.station.code}-${day}.csv"`,
      'cache-control': 'no-store',
    });
    // A BOM so a spreadsheet opens the Chinese names as UTF-8.
    c.res.write('\uFEFF');
    const done = await pipeChunks(exportFrom(this.station.store.db, 'csv', { ...recordConditions(q), max: CSV_EXPORT_MAX }), c.res);
    if (done) c.res.end();
  }

  private cylinders(c: Ctx): void {
    const p = c.url.searchParams;
    const status = p.get('status') || undefined;
    if (status && !['active', 'quarantined', 'scrapped'].includes(status)) throw badRequest('status is active, quarantined or scrapped');
    const list = this.station.registry.listCylinders({ search: p.get('search')?.trim() || undefined, status: status as CylinderStatus | undefined, limit: 200 });
    sendJson(c.res, 200, { cylinders: list, counts: this.station.registry.countCylinders() });
  }

  private operators(c: Ctx): void {
    const p = c.url.searchParams;
    const role = p.get('role') || undefined;
    if (role && !['filler', 'checker', 'supervisor'].includes(role)) throw badRequest('role is filler, checker or supervisor');
    sendJson(c.res, 200, { operators: this.station.registry.listOperators({ search: p.get('search')?.trim() || undefined, role: role as Role | undefined, limit: 200 }) });
  }

  private refuseImport(r: ImportRefusal | undefined): void {
    if (!r) return;
    if (r.code === 'IMPORT_RUNNING') throw new ApiError(409, r.code, 'err.importRunning', { since: r.since }, { refusal: r });
    throw new ApiError(409, r.code, 'err.importWhileFilling', { posts: r.posts.join(', ') }, { refusal: r });
  }

  /** The file's text is the body; ?what=cylinders|operators&format=csv|json&mode=all-or-nothing|valid-rows&dryRun=1. */
  private async importRegistry(c: Ctx): Promise<void> {
    const p = c.url.searchParams;
    const what = p.get('what');
    const format = (p.get('format') ?? 'csv') as ImportFormat;
    const mode = (p.get('mode') ?? 'all-or-nothing') as ImportMode;
    if (what !== 'cylinders' && what !== 'operators') throw badRequest('what is cylinders or operators');
    if (format !== 'csv' && format !== 'json') throw badRequest('format is csv or json');
    if (mode !== 'all-or-nothing' && mode !== 'valid-rows') throw badRequest('mode is all-or-nothing or valid-rows');
    // Refused before the upload is read, so a refused file costs nothing (checked again when it starts).
    this.refuseImport(this.station.imports.refusal());
    const bytes = await readBodyBytes(c.req, IMPORT_LIMIT);
    const file = (p.get('file') ?? 'upload').replace(/[^\w.\- ]/g, '_').slice(0, 80);
    const opts = { mode, dryRun: p.get('dryRun') === '1' || p.get('dryRun') === 'true', source: `web:${c.session!.name}:${file}` };
    let report;
    try {
      // In a worker thread, written in short transactions: the posts' event loop is never held (issue 9 point 5).
      report = await this.station.imports.run(what, bytes, format, opts);
    } catch (err) {
      if (isFillgateError(err, 'CONFLICT')) this.refuseImport(err.context.refusal as ImportRefusal | undefined);
      throw err;
    }
    this.log.info({ user: c.session!.name, what, file, applied: report.applied, total: report.total, rejected: report.rejected }, 'registry import from the dashboard');
    sendJson(c.res, 200, { report });
  }
}

/** What the records table shows per record; reasons in both languages, the screen picks one. */
function recordRow(r: FillRecordV1) {
  return {
    seq: r.seq,
    recordedAt: r.recordedAt,
    post: r.post,
    cylinderCode: r.cylinderCode,
    model: r.model,
    outcome: r.outcome,
    filler: r.filler ? { badge: r.filler.badge, name: r.filler.name } : undefined,
    netKg: r.netFilledG === undefined ? undefined : r.netFilledG / 1000,
    reasons: recordReasons({ refusals: r.refusals, trips: r.trips } as never),
  };
}
