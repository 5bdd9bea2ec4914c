/**
 * The dashboard's HTTP API against the real station and simulator (test/e2e/rig.ts):
 * screens served without a CDN, logins and signed session cookies, role checks on
 * every mutating route, the live stream during a fill and a refusal (with the
 * weight throttled), records filters and CSV, registry search and import report.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, beginFill, type Rig } from '../e2e/rig.ts';
import { startStatusServer, type StatusServer } from '../../gateway/http/server.ts';
import { Client, openLive, testUsers, type SseEvent } from './dashboard-support.ts';

let rig: Rig;
let server: StatusServer;
const HZ = 2;

test.before(async () => {
  rig = await startRig({ stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 30)) });
  server = await startStatusServer(rig.station, { ...rig.config.http, host: '127.0.0.1', port: 0, users: testUsers(), liveHz: HZ });
});
test.after(async () => {
  await server?.close();
  await rig?.close();
});

const posts = (events: SseEvent[], post: string) => events.filter((e) => e.event === 'post' && e.data.post === post).map((e) => e.data);

test('the screens are served from the gateway itself, with a same-origin content policy', async () => {
  const c = new Client(server.url);
  const index = await c.get('/');
  assert.is(index.status, 200);
  assert.match(String(index.headers['content-type']), /text\/html/);
  assert.match(String(index.headers['content-security-policy']), /default-src 'self'/);
  assert.not.match(index.text, /https?:\/\//, 'no external URL in the page');
  for (const f of ['/app.js', '/core.js', '/tiles.js', '/pages.js', '/status.js', '/app.css']) {
    const r = await c.get(f);
    assert.is(r.status, 200, f);
    assert.not.match(r.text, /https?:\/\/(?!x\b)/, `${f} fetches nothing from the internet`);
  }
  const again = await fetch(server.url + '/app.js', { headers: { 'if-none-match': String((await c.get('/app.js')).headers.etag) } });
  assert.is(again.status, 304);
  for (const bad of ['/../package.json', '/%2e%2e/package.json', '/public/app.js', '/nothing.js']) assert.is((await c.get(bad)).status, 404, bad);
});

test('without a session every API route but login and the catalogue answers 401 with a bilingual message', async () => {
  const c = new Client(server.url);
  assert.is((await c.get('/api/i18n')).status, 200);
  assert.is((await c.get('/api/session')).json.user, null);
  for (const [m, p] of [['GET', '/api/posts'], ['GET', '/api/live'], ['GET', '/api/records'], ['GET', '/api/status'], ['POST', '/api/leak/reset'], ['POST', '/api/posts/P1/reset'], ['POST', '/posts/P1/reset']]) {
    const r = await c.req(m, p, m === 'POST' ? {} : undefined);
    assert.is(r.status, 401, `${m} ${p}`);
    assert.is(r.json.error, 'UNAUTHORIZED');
    assert.is(r.json.message.zh, '请先登录');
    assert.is(r.json.message.en, 'Please log in');
  }
  // The machines' endpoints stay open.
  assert.is((await c.get('/status')).status, 200);
});

test('login: a wrong password is refused, the right one sets an HttpOnly SameSite cookie; a forged or altered cookie is refused', async () => {
  const c = new Client(server.url);
  const bad = await c.post('/api/login', { name: 'op', password: 'nope' });
  assert.is(bad.status, 401);
  assert.is(bad.json.error, 'LOGIN_FAILED');
  const nobody = await c.post('/api/login', { name: 'ghost', password: 'x' });
  assert.is(nobody.status, 401, 'an unknown name gets the same answer');
  const ok = await c.login('op');
  assert.is(ok.status, 200);
  assert.is(ok.json.user.role, 'operator');
  const sc = String(ok.headers['set-cookie']);
  assert.match(sc, /HttpOnly/);
  assert.match(sc, /SameSite=Strict/);
  assert.is((await c.get('/api/posts')).status, 200);
  const [name, value] = c.cookie.split('=');
  const [payload, sig] = value.split('.');
  const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), r: 'supervisor' })).toString('base64url');
  const forged = new Client(server.url);
  forged.cookie = `${name}=${forgedPayload}.${sig}`;
  assert.is((await forged.get('/api/posts')).status, 401, 'role changed in the cookie');
  forged.cookie = `${name}=${payload}.${sig.slice(0, -2)}AA`;
  assert.is((await forged.get('/api/posts')).status, 401, 'signature altered');
});

test('logout revokes the session even though the cookie is still presented', async () => {
  const c = new Client(server.url);
  await c.login('op');
  const kept = c.cookie;
  assert.is((await c.post('/api/logout')).status, 200);
  const replay = new Client(server.url);
  replay.cookie = kept;
  assert.is((await replay.get('/api/posts')).status, 401);
});

test('repeated wrong passwords block that name from that address, even with the right password', async () => {
  const c = new Client(server.url);
  for (let i = 0; i < 5; i++) assert.is((await c.post('/api/login', { name: 'int', password: `wrong-${i}` })).status, 401);
  const r = await c.login('int');
  assert.is(r.status, 429);
  assert.is(r.json.error, 'TOO_MANY_ATTEMPTS');
});

test('an operator is refused every mutating route with the roles that may; a foreign Origin is refused', async () => {
  const c = new Client(server.url);
  await c.login('op');
  for (const p of ['/api/posts/P1/reset', '/api/leak/reset', '/api/registry/import?what=cylinders']) {
    const r = await c.post(p, p.includes('import') ? 'code\n' : {});
    assert.is(r.status, 403, p);
    assert.is(r.json.error, 'FORBIDDEN');
  }
  const leak = await c.post('/api/leak/reset');
  assert.equal(leak.json.needs, ['supervisor']);
  assert.match(leak.json.message.zh, /主管/);
  assert.match(leak.json.message.en, /Supervisor/);
  const sup = new Client(server.url);
  await sup.login('sup');
  const foreign = await sup.post('/api/posts/P1/reset', {}, { origin: 'http://evil.example' });
  assert.is(foreign.status, 403);
  assert.is(foreign.json.error, 'FORBIDDEN_ORIGIN');
  // A supervisor may: the post is idle, so nothing changes; without MQTT there is no leak lock to reset.
  const reset = await sup.post('/api/posts/P1/reset');
  assert.is(reset.status, 200);
  assert.is(reset.json.phase, 'idle');
  assert.is((await sup.post('/api/posts/NOPE/reset')).status, 404);
  assert.is((await sup.post('/api/leak/reset')).json.error, 'NO_LEAK_INTERLOCK');
});

test('the store lock a failed commit latched: a supervisor resets it once the store takes writes, and the reset is recorded with the name', async () => {
  const sup = new Client(server.url);
  await sup.login('sup');
  assert.is((await sup.post('/api/store/reset')).json.error, 'NOT_LOCKED');
  const store = rig.station.store;
  const append = store.append.bind(store);
  store.append = () => {
    throw new Error('SQLITE_FULL (test)');
  };
  rig.sim.scan('P2', 'E2000017A1B29999'); // a refusal whose record cannot be committed
  await rig.until('store lock', () => rig.station.lockState.some((l) => l.lock === 'store'), 5000);
  store.append = append;
  const status = await sup.get('/api/status');
  assert.ok(status.json.latches.active.some((l: { latch: string }) => l.latch === 'store'), JSON.stringify(status.json.latches));
  const probe = store.probeWrite.bind(store);
  store.probeWrite = () => {
    throw new Error('SQLITE_FULL (test)');
  };
  const refused = await sup.post('/api/store/reset');
  assert.is(refused.status, 409);
  assert.is(refused.json.error, 'RESET_REFUSED');
  assert.ok(rig.station.lockState.some((l) => l.lock === 'store'), 'still locked while the store cannot be written');
  store.probeWrite = probe;
  const ok = await sup.post('/api/store/reset');
  assert.is(ok.status, 200, JSON.stringify(ok.json));
  assert.not.ok(rig.station.lockState.some((l) => l.lock === 'store'));
  const history = rig.station.latches.history().filter((e) => e.latch === 'store').map((e) => [e.action, e.by]);
  assert.equal(history.slice(0, 3), [['lift', 'web:sup'], ['refused', 'web:sup'], ['set', 'station']]);
  await rig.until('P2 free again', () => ['idle', 'aborted', 'closedOut'].includes(rig.phase('P2')));
});

test('the live stream shows a fill progressing to its end and a refusal with its reason in Chinese and English; weight is throttled', async () => {
  const c = new Client(server.url);
  await c.login('op');
  const live = await openLive(server.url, c.cookie);
  assert.is(live.status, 200);
  try {
    await rig.until('first paint', () => posts(live.events, 'P1').length > 0 && live.events.some((e) => e.event === 'banner'), 5000);
    const code = 'E2000017A1B20001'; // YSP4.7: 2 kg allowed
    await beginFill(rig, 'P1', code);
    await rig.until('ready', () => rig.phase('P1') === 'cylinderReady');
    rig.sim.press('P1', 'start', 300);
    await rig.until('tile filling', () => posts(live.events, 'P1').some((t) => t.state === 'filling'), 20_000);
    await rig.until('tile past filling', () => rig.phase('P1') === 'checked', 60_000);
    const during = posts(live.events, 'P1').filter((t) => t.phase === 'filling');
    const filled = during.map((t) => t.filledKg).filter((x) => x !== undefined);
    assert.ok(filled.length >= 2 && filled[filled.length - 1] > filled[0], `filled mass rises: ${JSON.stringify(filled)}`);
    const t = during[during.length - 1];
    assert.is(t.cylinderCode, code);
    assert.is(t.model, 'YSP4.7');
    assert.ok(t.targetKg > 1 && t.targetKg <= 2, `target ${t.targetKg}`);
    // Samples arrive at 10 Hz; the stream sends at most HZ weight updates a second per post (plus phase changes).
    const times = live.events.filter((e) => e.event === 'post' && e.data.post === 'P1' && e.data.phase === 'filling').map((e) => e.at);
    const secs = (times[times.length - 1] - times[0]) / 1000;
    assert.ok(times.length <= Math.ceil(secs * HZ) + 3, `${times.length} filling updates in ${secs.toFixed(1)} s`);
    const checked = await rig.until('tile waiting for re-weigh', () => posts(live.events, 'P1').find((x) => x.phase === 'checked'));
    assert.is(checked.state, 'waiting');
    rig.sim.toCheck('P1');
    rig.sim.badge('P1', 'B1002');
    await rig.until('re-weighed', () => rig.phase('P1') === 'reweighed');
    rig.sim.removeCheck();
    const done = await rig.until('tile done', () => posts(live.events, 'P1').find((x) => x.outcome === 'filled'), 20_000);
    assert.is(done.state, 'done');

    // P2: an overdue cylinder is refused.
    rig.sim.place('P2', 'E2000017A1B20008');
    await rig.until('P2 loaded', () => rig.sim.state().posts.find((p) => p.id === 'P2')!.scale.grossKg > 1);
    rig.sim.scan('P2', 'E2000017A1B20008');
    const refused = await rig.until('tile refused', () => posts(live.events, 'P2').find((x) => x.state === 'refused'), 20_000);
    assert.is(refused.outcome, 'refused');
    const reason = refused.reasons.find((r: { code: string }) => r.code === 'INSPECTION_OVERDUE');
    assert.ok(reason, JSON.stringify(refused.reasons));
    assert.is(reason.zh, '气瓶超期未检');
    assert.is(reason.en, 'Periodic inspection overdue');
    assert.ok(live.events.some((e) => e.event === 'record' && e.data.outcome === 'refused'));
    rig.sim.remove('P2');
  } finally {
    live.close();
  }
});

test('records: filter by post, outcome, cylinder substring and date; CSV export; a bad filter is a 400', async () => {
  const c = new Client(server.url);
  await c.login('op');
  const all = await c.get('/api/records');
  assert.ok(all.json.total >= 2, JSON.stringify(all.json));
  const refused = await c.get('/api/records?post=P2&outcome=refused');
  assert.ok(refused.json.records.length >= 1);
  assert.ok(refused.json.records.every((r: { post: string; outcome: string }) => r.post === 'P2' && r.outcome === 'refused'));
  assert.is(refused.json.records[0].reasons[0].zh, '气瓶超期未检');
  const byCode = await c.get('/api/records?cylinder=B20001');
  assert.ok(byCode.json.records.length >= 1 && byCode.json.records.every((r: { cylinderCode: string }) => r.cylinderCode.includes('B20001')));
  const today = new Date(rig.station.clock.wall());
  const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  assert.is((await c.get(`/api/records?from=${day(today)}&to=${day(today)}`)).json.total, all.json.total);
  assert.is((await c.get('/api/records?to=2001-01-01')).json.total, 0);
  for (const bad of ['outcome=great', 'from=2025-02-30', 'from=yesterday']) {
    const r = await c.get(`/api/records?${bad}`);
    assert.is(r.status, 400, bad);
    assert.is(r.json.error, 'BAD_REQUEST');
  }
  const csv = await c.get('/api/records.csv?outcome=refused');
  assert.is(csv.status, 200);
  assert.match(String(csv.headers['content-disposition']), /attachment; filename="fill-records-/);
  const lines = csv.text.replace(/^\uFEFF/, '').trim().split('\r\n');
  assert.match(lines[0], /^station,seq,id,recordedAt/);
  assert.ok(lines.length >= 2 && lines.slice(1).every((l) => l.includes(',refused,')), csv.text);
});

test('registry: search cylinders and operators; import reports row by row, all-or-nothing or valid rows', async () => {
  const c = new Client(server.url);
  await c.login('op');
  const cyl = await c.get('/api/registry/cylinders?search=B20003');
  assert.is(cyl.json.cylinders.length, 1);
  assert.is(cyl.json.cylinders[0].model, 'YSP26.2');
  const ops = await c.get('/api/registry/operators?search=Zhao');
  assert.is(ops.json.operators[0].badge, 'B1009');
  assert.is((await c.get('/api/registry/cylinders?status=lost')).status, 400);

  const sup = new Client(server.url);
  await sup.login('sup');
  const header = 'code,valveCode,ownerUnit,model,waterVolumeL,allowedFillKg,tareKg,medium,manufacturedOn,designLifeYears,nextInspectionDue,status';
  const file = [header, 'E2000017A1B29901,,HNGAS01,YSP12,12,5,6.5,LPG,2024-03,8,2028-03-31,active', 'E2000017A1B29902,,HNGAS01,YSP12,12,5,6.5,LPG,2024-03,8,not-a-date,active'].join('\n');
  const strict = await sup.post('/api/registry/import?what=cylinders&format=csv&file=new.csv', file, { 'content-type': 'text/plain' });
  assert.is(strict.status, 200, strict.text);
  assert.is(strict.json.report.applied, false);
  assert.is(strict.json.report.rejected, 1);
  const issue = strict.json.report.issues.find((i: { row: number; severity: string }) => i.severity === 'error');
  assert.is(issue.row, 2);
  assert.is(issue.key, 'E2000017A1B29902');
  assert.is(rig.station.registry.getCylinder('E2000017A1B29901'), undefined, 'nothing written');
  const lenient = await sup.post('/api/registry/import?what=cylinders&format=csv&mode=valid-rows', file, { 'content-type': 'text/plain' });
  assert.is(lenient.json.report.applied, true);
  assert.is(lenient.json.report.created, 1);
  assert.ok(rig.station.registry.getCylinder('E2000017A1B29901'));
  assert.ok(rig.station.registry.events({ subject: 'E2000017A1B29901' }).some((e) => String(e.source).startsWith('web:sup')), 'the change names who imported it');
  assert.is((await sup.post('/api/registry/import?what=trucks', file)).status, 400);
});

test('status: devices with their health, records and upload backlog', async () => {
  const c = new Client(server.url);
  await c.login('op'); // 'int' was blocked by the throttle test
  const s = await c.get('/api/status');
  assert.is(s.status, 200);
  assert.ok(s.json.devices.length >= 4, JSON.stringify(s.json.devices));
  assert.ok(s.json.devices.every((d: { state: string }) => ['online', 'degraded', 'offline'].includes(d.state)));
  assert.ok(s.json.records.total >= 2);
});

test('open exceptions are listed and only a supervisor closes one out with a note; only a supervisor records a decant (issue 10 points 1, 3)', async () => {
  const e = rig.station.exceptions.raise({ post: 'P2', code: 'LEFT_UNCHECKED', attemptId: 'A-API-1', cylinderCode: 'E2000017A1B20005', detail: 'left without checker' });
  const op = new Client(server.url);
  await op.login('op');
  const list = await op.get('/api/exceptions?post=P2');
  assert.equal(list.json.exceptions.map((x: { id: number }) => x.id), [e.id]);
  const tile = (await op.get('/api/posts')).json.posts.find((t: { post: string }) => t.post === 'P2');
  assert.equal(tile.exceptions.map((x: { code: string }) => x.code), ['LEFT_UNCHECKED']);
  assert.is((await op.post(`/api/exceptions/${e.id}/close`, { note: 'x' })).status, 403);
  const sup = new Client(server.url);
  await sup.login('sup');
  assert.is((await sup.post(`/api/exceptions/${e.id}/close`, {})).status, 400, 'a note is required');
  const closed = await sup.post(`/api/exceptions/${e.id}/close`, { note: 're-checked by Li Na' });
  assert.is(closed.status, 200);
  assert.is(closed.json.exception.closedBy, 'web:sup');
  assert.equal((await op.get('/api/exceptions?post=P2')).json.exceptions, []);
  rig.station.registry.holdForDecant('E2000017A1B20006', { attemptId: 'A-API-2', overKg: 0.3, source: 'test' });
  assert.is((await op.post('/api/registry/cylinders/E2000017A1B20006/decant', { removedKg: 0.4, by: 'B1009' })).status, 403);
  const d = await sup.post('/api/registry/cylinders/E2000017A1B20006/decant', { removedKg: 0.4, by: 'B1009', note: 'recovery tank' });
  assert.is(d.status, 200, JSON.stringify(d.json));
  assert.equal([d.json.decant.removedKg, d.json.decant.decantedBy], [0.4, 'B1009']);
  assert.is(rig.station.registry.getCylinder('E2000017A1B20006')!.status, 'active');
});

test.run();
