/**
 * The inspector's reports over HTTP (issue 10 point 10): the receiver's own
 * login, JSON and CSV, refused without a login, while stations keep uploading
 * with their signatures only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startReceiver, type RunningReceiver } from '../../../gateway/receiver/server.ts';
import { parseReceiverArgs } from '../../../gateway/receiver/main.ts';
import { hashPassword } from '../../../gateway/mqtt/password.ts';
import { makeKeys } from '../records/fixtures.ts';
import { MIN, signedChain, T0 } from './report-fixtures.ts';
import { hasMessage } from '../../../gateway/i18n/index.ts';
import { exceptionKinds } from '../../../gateway/receiver/reports.ts';

const keys = makeKeys();
const users = [
  { name: 'insp', role: 'inspector' as const, passwordHash: hashPassword('pw-insp', 1024) },
  { name: 'boss', role: 'admin' as const, passwordHash: hashPassword('pw-boss', 1024) },
];
let rx: RunningReceiver;

test.before(async () => {
  rx = await startReceiver({ dbPath: ':memory:', stations: { ST01: keys.publicKeyPem }, verifyThreads: 0, now: () => T0 + 5 * MIN, reports: { users, lang: 'en' } });
  // The upload endpoint needs no login: the station's signature is its authentication.
  const recs = signedChain(keys.privateKey, 'ST01', [
    { min: 0 },
    { min: 1, set: { checker: undefined, postFillCheck: undefined, cylinderCode: '=HYPERLINK("x")' } },
    { min: 2, set: { outcome: 'refused', refusals: [{ code: 'SCRAPPED' }], startedAt: undefined, netFilledG: undefined } },
  ]);
  const res = await fetch(`${rx.url}/v1/records`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: recs.map((r) => JSON.stringify(r)).join('\n') });
  assert.equal(((await res.json()) as { results: { status: string }[] }).results.map((r) => r.status), ['accepted', 'accepted', 'accepted']);
});
test.after(async () => {
  await rx?.close();
});

async function login(name: string, password: string): Promise<Response> {
  return fetch(`${rx.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });
}
const cookieOf = (res: Response) => (res.headers.get('set-cookie') ?? '').split(';')[0];

test('without a login every report is refused: the API answers 401, a page sends the browser to the login form', async () => {
  for (const r of ['summary', 'exceptions', 'persons', 'alarms', 'cylinder', 'stations']) {
    const res = await fetch(`${rx.url}/v1/reports/${r}?station=ST01&code=X`);
    assert.is(res.status, 401, r);
  }
  const page = await fetch(`${rx.url}/reports/exceptions?station=ST01`, { redirect: 'manual' });
  assert.is(page.status, 303);
  assert.is(page.headers.get('location'), '/login?next=%2Freports%2Fexceptions%3Fstation%3DST01');
  const forged = await fetch(`${rx.url}/v1/reports/summary?station=ST01`, { headers: { cookie: 'fgrx_session=eyJuIjoiaW5zcCIsInIiOiJpbnNwZWN0b3IiLCJlIjo5OTk5OTk5OTk5OTk5fQ.AAAA' } });
  assert.is(forged.status, 401, 'a cookie not signed by this receiver');
  assert.is((await login('insp', 'wrong')).status, 401);
  assert.is((await login('nobody', 'pw-insp')).status, 401);
  // The station's own report endpoints and the upload stay as they were.
  assert.is((await fetch(`${rx.url}/v1/stations/ST01`)).status, 200);
});

test('logged in: JSON and CSV of each report; a CSV cell that a spreadsheet would run is defused', async () => {
  const res = await login('insp', 'pw-insp');
  assert.is(res.status, 200);
  const cookie = cookieOf(res);
  assert.match(cookie, /^fgrx_session=/);
  assert.match(res.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
  const get = (path: string) => fetch(`${rx.url}${path}`, { headers: { cookie } });

  const sum = (await (await get('/v1/reports/summary?station=ST01')).json()) as { records: number; byOutcome: Record<string, number>; byRefusal: Record<string, number> };
  assert.equal([sum.records, sum.byOutcome, sum.byRefusal], [3, { filled: 2, refused: 1 }, { SCRAPPED: 1 }]);

  const exc = (await (await get('/v1/reports/exceptions?station=ST01')).json()) as { exceptions: { kind: string; seq: number }[] };
  assert.equal(exc.exceptions.map((e) => `${e.kind}:${e.seq}`), ['unchecked:2']);
  const csv = await get('/v1/reports/exceptions?station=ST01&format=csv');
  assert.is(csv.headers.get('content-type'), 'text/csv; charset=utf-8');
  const lines = (await csv.text()).trimEnd().split('\r\n');
  assert.is(lines[0], 'kind,station,source,seq,at,post,cylinderCode,outcome,who,detail');
  assert.is(lines.length, 2);
  assert.match(lines[1], /^unchecked,ST01,record,2,2026-03-01T08:01:00\.000\+08:00,P3,"'=HYPERLINK\(""x""\)",filled,B001,"Missing: checker, postFillCheck"$/);

  const persons = await (await get('/v1/reports/persons?station=ST01&format=csv')).text();
  assert.match(persons, /^station,person,name,certificate/);
  assert.match(persons, /ST01,P-2024-0001,张三,P-2024-0001,,unknown,B001,2,0,0,0/);

  const cyl = (await (await get(`/v1/reports/cylinder?code=${encodeURIComponent('CYL100001')}`)).json()) as { history: { station: string; seq: number }[] };
  assert.equal(cyl.history.map((h) => `${h.station}:${h.seq}`), ['ST01:1']);
  const alarms = (await (await get('/v1/reports/alarms?station=ST01')).json()) as { eventsAvailable: boolean; events: unknown[] };
  // The receiver keeps the station event chains (received_events) from its start; none were uploaded here.
  assert.equal([alarms.eventsAvailable, alarms.events], [true, []]);
  const stations = (await (await get('/v1/reports/stations')).json()) as { stations: { station: string; accepted: number }[] };
  assert.equal(stations.stations.map((s) => [s.station, s.accepted]), [['ST01', 3]]);

  // Bad requests say what is wrong.
  assert.is((await get('/v1/reports/summary')).status, 400);
  assert.is((await get('/v1/reports/summary?station=ST01&from=yesterday')).status, 400);
  assert.is((await get('/v1/reports/summary?station=ST01&format=xml')).status, 400);
  assert.is((await get('/v1/reports/nothing?station=ST01')).status, 404);
  // The period bounds the rows.
  const none = (await (await get(`/v1/reports/summary?station=ST01&from=${encodeURIComponent(new Date(T0 + 10 * MIN).toISOString())}`)).json()) as { records: number };
  assert.is(none.records, 0);
});

test('the login form redirects only within the reports (no open redirect); logout clears the cookie', async () => {
  const form = (next: string) =>
    fetch(`${rx.url}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ name: 'boss', password: 'pw-boss', next }).toString() });
  const ok = await form('/reports/persons?station=ST01');
  assert.is(ok.status, 303);
  assert.is(ok.headers.get('location'), '/reports/persons?station=ST01');
  assert.is((await form('//evil.example/x')).headers.get('location'), '/reports');
  assert.is((await form('https://evil.example/')).headers.get('location'), '/reports');
  const page = await fetch(`${rx.url}/reports/persons?station=ST01`, { headers: { cookie: cookieOf(ok) } });
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  const html = await page.text();
  assert.match(html, /Fills per person and certificate validity/);
  assert.not.match(html, /<script|https?:\/\//, 'no script, nothing from another host');
  const out = await fetch(`${rx.url}/logout`, { method: 'POST', redirect: 'manual', headers: { cookie: cookieOf(ok) } });
  assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
  const bad = await fetch(`${rx.url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=boss&password=nope' });
  assert.is(bad.status, 401);
  assert.match(await bad.text(), /id="login-error"/);
});

test('receiver options: users with roles from --user and --users, refused when malformed', () => {
  const h = hashPassword('x', 1024);
  const a = parseReceiverArgs(['--user', `insp:inspector:${h}`, '--lang', 'en', '--refill-interval-min', '45', '--session-secret', 's'.repeat(32)]);
  assert.equal(a.reports.users, [{ name: 'insp', role: 'inspector', passwordHash: h }]);
  assert.equal([a.reports.lang, a.reports.refillIntervalMs], ['en', 45 * MIN]);
  assert.throws(() => parseReceiverArgs(['--user', 'insp:inspector:plaintext']), /hash-password/);
  assert.throws(() => parseReceiverArgs(['--user', `insp:root:${h}`]), /ROLE inspector\|admin/);
  assert.throws(() => parseReceiverArgs(['--session-secret', 'short']), /32/);
});

test('every exception kind, validity and flag has its label and detail in the catalogue (zh and en)', () => {
  const keys = [
    ...exceptionKinds.flatMap((k) => [`report.exc.${k}`, `report.exc.${k}.detail`]),
    ...['valid', 'expired', 'unknown', 'none'].map((v) => `report.validity.${v}`),
    ...['two_units_within_interval', 'two_stations_within_interval', 'refilled_too_soon'].map((f) => `report.flag.${f}`),
    ...['summary', 'exceptions', 'persons', 'alarms', 'cylinder'].map((p) => `report.nav.${p}`),
  ];
  assert.equal(keys.filter((k) => !hasMessage(k)), []);
});

test.run();
