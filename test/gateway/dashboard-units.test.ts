/**
 * Pure parts of the dashboard, as tables: session cookies (forgery, expiry, a user
 * removed or demoted, logout), the role table, the http config section, the tile
 * a post state becomes (state colour, masses, bilingual reasons), the banner, and
 * the records filter's parsing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../protocols/clock.ts';
import { SessionKeeper, LoginThrottle, can, checkLogin, parseCookies, permissions } from '../../gateway/http/auth.ts';
import { httpSchema, type HttpUser } from '../../gateway/http/config.ts';
import { configSchema } from '../../gateway/config/config.ts';
import { postTile, bannerView, outcomeState, type PostMemory } from '../../gateway/http/dashboard/view.ts';
import { parseRecordQuery, dayStartMs } from '../../gateway/http/dashboard/records.ts';
import { initialLeakState } from '../../gateway/leak/interlock.ts';
import type { PostState } from '../../gateway/controller/index.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';
import { testUsers, passwords } from './dashboard-support.ts';

const users: HttpUser[] = testUsers();

test('a session cookie is accepted until it expires; forged, altered, revoked, or for a removed or demoted user it is refused', () => {
  const clock = new ManualClock();
  let current = [...users];
  const keeper = new SessionKeeper({ ttlMs: 60_000, clock, users: () => current, secret: 'x'.repeat(32) });
  const { token, session } = keeper.issue(users[1]);
  assert.is(keeper.verify(token)?.role, 'supervisor');
  const [payload, sig] = token.split('.');
  const asJson = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const promoted = Buffer.from(JSON.stringify({ ...asJson, n: 'op' })).toString('base64url');
  assert.is(keeper.verify(`${promoted}.${sig}`), undefined, 'payload changed, signature kept');
  assert.is(keeper.verify(`${payload}.${'A'.repeat(sig.length)}`), undefined, 'signature changed');
  assert.is(keeper.verify(`${payload}`), undefined, 'no signature');
  assert.is(keeper.verify(''), undefined);
  const other = new SessionKeeper({ ttlMs: 60_000, clock, users: () => current, secret: 'y'.repeat(32) });
  assert.is(other.verify(token), undefined, 'another key did not sign it');
  clock.advance(59_000);
  assert.ok(keeper.verify(token));
  clock.advance(1_000);
  assert.is(keeper.verify(token), undefined, 'expired');
  const fresh = keeper.issue(users[1]);
  current = current.map((u) => (u.name === 'sup' ? { ...u, role: 'operator' as const } : u));
  assert.is(keeper.verify(fresh.token), undefined, 'the user was demoted in the config');
  current = [...users];
  assert.ok(keeper.verify(fresh.token));
  keeper.revoke(fresh.session);
  assert.is(keeper.verify(fresh.token), undefined, 'logged out');
  void session;
});

test('without a configured secret each process signs with its own random key', () => {
  const a = new SessionKeeper({ ttlMs: 60_000, users: () => users });
  const b = new SessionKeeper({ ttlMs: 60_000, users: () => users });
  const { token } = a.issue(users[0]);
  assert.ok(a.verify(token));
  assert.is(b.verify(token), undefined);
});

test('role table: only a supervisor resets posts and the leak lock, closes out exceptions and records decants; supervisors and integrators import; everyone views', () => {
  const table = Object.fromEntries((['operator', 'supervisor', 'integrator'] as const).map((r) => [r, (Object.keys(permissions) as (keyof typeof permissions)[]).filter((a) => can(r, a))]));
  assert.equal(table, {
    operator: ['view', 'exportRecords'],
    supervisor: ['view', 'exportRecords', 'resetPost', 'resetLeak', 'resetStore', 'importRegistry', 'closeException', 'recordDecant'],
    integrator: ['view', 'exportRecords', 'importRegistry'],
  });
});

test('checkLogin: the right password, a wrong one, an unknown name', async () => {
  assert.is((await checkLogin(users, 'op', passwords.op))?.role, 'operator');
  assert.is(await checkLogin(users, 'op', passwords.sup), undefined);
  assert.is(await checkLogin(users, 'nobody', passwords.op), undefined);
});

test('login throttle: five failures block the key for the window, success clears it', () => {
  const clock = new ManualClock();
  const th = new LoginThrottle(5, 60_000, clock);
  for (let i = 0; i < 4; i++) th.fail('ip|op');
  assert.not.ok(th.blocked('ip|op'));
  th.fail('ip|op');
  assert.ok(th.blocked('ip|op'));
  assert.not.ok(th.blocked('ip|sup'), 'other names are not affected');
  clock.advance(60_001);
  assert.not.ok(th.blocked('ip|op'), 'the window passed');
  th.fail('ip|op');
  th.succeed('ip|op');
  assert.not.ok(th.blocked('ip|op'));
});

test('cookies parse leniently; a malformed one is skipped', () => {
  assert.equal(parseCookies('a=1; fg_session=x.y; bad=%E0%A4%A; fg_lang=en'), { a: '1', fg_session: 'x.y', fg_lang: 'en' });
  assert.equal(parseCookies(undefined), {});
});

test('http config: defaults, a plain password or a duplicate user is an error with its path', () => {
  const d = httpSchema.parse({});
  assert.is(d.lang, 'zh');
  assert.equal(d.users, []);
  assert.is(d.host, '127.0.0.1');
  const plain = httpSchema.safeParse({ users: [{ name: 'op', role: 'operator', passwordHash: 'secret' }] });
  assert.not.ok(plain.success);
  assert.equal(plain.error!.issues[0].path, ['users', 0, 'passwordHash']);
  const dup = httpSchema.safeParse({ users: [users[0], { ...users[1], name: 'op' }] });
  assert.not.ok(dup.success);
  assert.match(dup.error!.issues[0].message, /duplicate user op/);
  assert.not.ok(httpSchema.safeParse({ users: [{ ...users[0], role: 'admin' }] }).success);
  assert.not.ok(httpSchema.safeParse({ sessionSecret: 'short' }).success);
  const station = { station: { code: 'S', unit: 'U' }, posts: [] };
  assert.is(configSchema.safeParse(station).success, false, 'posts are still required');
});

// ---- tiles ------------------------------------------------------------------

const cylinder = { code: 'C1', model: 'YSP12', tareKg: 6.5, allowedFillKg: 5, medium: 'LPG' };
const snap = (phase: object, grossKg?: number, stable = true): PostState => ({ ctx: { last: grossKg === undefined ? undefined : { grossKg, stable, overload: false, at: 0 } }, phase } as unknown as PostState);
const run = { code: 'C1', cylinder, targetKg: 4.8, startGrossKg: 7.0, filler: { badge: 'B1' } };
const attempt = (o: Partial<FillAttempt>): FillAttempt => ({ attemptId: 'a', station: 'S', unit: 'U', post: 'P1', outcome: 'filled', trips: [], refusals: [], ...o });

test('tile state per phase: grey idle, red locked, amber waiting, green filling and done, red fault', () => {
  const rows: [string, PostState, PostMemory, boolean, string][] = [
    ['idle', snap({ kind: 'idle' }, 0), {}, false, 'idle'],
    ['idle, station locked', snap({ kind: 'idle' }, 0), {}, true, 'locked'],
    ['code read', snap({ kind: 'identified', attempt: { code: 'C1' } }, 7), {}, false, 'waiting'],
    ['verified', snap({ kind: 'verified', attempt: { code: 'C1', cylinder } }, 7), {}, false, 'waiting'],
    ['verified, badge refused', snap({ kind: 'verified', attempt: { code: 'C1', cylinder } }, 7), { notice: { reason: 'OPERATOR_NOT_FILLER' } }, false, 'refused'],
    ['filling', snap({ kind: 'filling', run, flow: {} }, 9), {}, false, 'filling'],
    ['topping up', snap({ kind: 'toppingUp', run, flow: {} }, 11), {}, false, 'filling'],
    ['settling', snap({ kind: 'settling', run }, 11.3), {}, false, 'waiting'],
    ['closed out filled', snap({ kind: 'closedOut', outcome: 'filled' }, 0), {}, false, 'done'],
    ['closed out overfilled', snap({ kind: 'closedOut', outcome: 'overfilled' }, 0), {}, false, 'tripped'],
    ['fault', snap({ kind: 'fault', reason: 'VALVE_FAULT' }, 9), {}, false, 'fault'],
    ['idle after a refusal', snap({ kind: 'idle' }, 20), { record: attempt({ outcome: 'refused', refusals: [{ code: 'SCRAPPED' }] }) }, false, 'refused'],
    ['idle after a trip', snap({ kind: 'idle' }, 0), { record: attempt({ outcome: 'tripped', trips: [{ code: 'LEAK_ALARM', at: 'x' }] }) }, true, 'tripped'],
    ['idle after an underfill', snap({ kind: 'idle' }, 0), { record: attempt({ outcome: 'underfilled' }) }, false, 'warn'],
  ];
  for (const [name, s, memory, locked, want] of rows) assert.is(postTile('P1', s, memory, locked).state, want, name);
});

test('a filling tile shows code, model, target, the mass put in and the content now', () => {
  const t = postTile('P1', snap({ kind: 'filling', run, flow: {} }, 9.234, false));
  assert.equal(
    { code: t.cylinderCode, model: t.model, target: t.targetKg, filled: t.filledKg, content: t.contentKg, gross: t.grossKg, allowed: t.allowedKg, stable: t.stable },
    { code: 'C1', model: 'YSP12', target: 4.8, filled: 2.23, content: 2.73, gross: 9.23, allowed: 5, stable: false },
  );
  assert.equal(t.reasons, []);
});

test('reasons come in both languages: from the last record, a fault, or a notice in the current phase', () => {
  const refused = postTile('P2', snap({ kind: 'idle' }, 20), { record: attempt({ outcome: 'refused', cylinderCode: 'C9', refusals: [{ code: 'INSPECTION_OVERDUE', detail: 'due 2024-04-30' }] }) });
  assert.equal(refused.reasons, [{ code: 'INSPECTION_OVERDUE', zh: '气瓶超期未检', en: 'Periodic inspection overdue', detail: 'due 2024-04-30' }]);
  assert.is(refused.cylinderCode, 'C9');
  assert.is(refused.outcome, 'refused');
  const fault = postTile('P1', snap({ kind: 'fault', reason: 'VALVE_FEEDBACK' }, 9));
  assert.is(fault.reasons[0].zh, '阀门反馈与指令不符');
  assert.ok(fault.fault);
  const notice = postTile('P1', snap({ kind: 'verified', attempt: { code: 'C1', cylinder } }, 7), { notice: { reason: 'OPERATOR_NOT_FILLER' } });
  assert.is(notice.reasons[0].en, 'Operator does not hold the filler role');
  // A new scan (phase identified) no longer shows the last record's outcome.
  const next = postTile('P1', snap({ kind: 'identified', attempt: { code: 'C2' } }, 7), { record: attempt({ outcome: 'refused', refusals: [{ code: 'SCRAPPED' }] }) });
  assert.is(next.outcome, undefined);
  assert.equal(next.reasons, []);
  assert.is(outcomeState('interrupted'), 'tripped');
});

test('a tile says how old its weight is and greys it out when stale or the scale is offline (issue 12 point 9)', () => {
  const cfgd = (phase: object, grossKg: number, at: number): PostState =>
    ({ ctx: { cfg: { pollHz: 10, staleAfterPolls: 3 }, last: { grossKg, stable: true, overload: false, at } }, phase }) as unknown as PostState;
  const fresh = postTile('P1', cfgd({ kind: 'idle' }, 19.16, 10_000), {}, false, { now: 10_100, scale: { state: 'online' } });
  assert.is(fresh.weightStale, false);
  assert.is(fresh.weightAgeS, undefined);
  assert.is(fresh.scaleHealth, 'online');
  const old = postTile('P1', cfgd({ kind: 'idle' }, 19.16, 10_000), {}, false, { now: 22_500, scale: { state: 'degraded', lastError: 'TIMEOUT' } });
  assert.is(old.weightStale, true, 'older than 3 polls at 10 Hz');
  assert.is(old.weightAgeS, 12);
  assert.is(old.scaleError, 'TIMEOUT');
  const offline = postTile('P1', cfgd({ kind: 'idle' }, 19.16, 10_000), {}, false, { now: 10_100, scale: { state: 'offline', lastError: 'link down: ECONNREFUSED' } });
  assert.is(offline.weightStale, true, 'an offline scale greys out even a recent weight');
  assert.is(offline.grossKg, 19.16, 'the last weight is still shown, greyed out');
});

test('an idle tile drops the refusal once the refused cylinder has left the scale; a trip stays', () => {
  const refusedRec = { record: attempt({ outcome: 'refused', refusals: [{ code: 'SCRAPPED' }] }) };
  assert.is(postTile('P2', snap({ kind: 'idle' }, 14), refusedRec, false, { emptyBelowKg: 1 }).state, 'refused', 'still on the scale');
  const gone = postTile('P2', snap({ kind: 'idle' }, 0.02), refusedRec, false, { emptyBelowKg: 1 });
  assert.is(gone.state, 'idle');
  assert.equal(gone.reasons, []);
  assert.is(gone.outcome, undefined);
  const trip = postTile('P2', snap({ kind: 'idle' }, 0), { record: attempt({ outcome: 'tripped', trips: [{ code: 'NO_FLOW', at: 'x' }] }) }, false, { emptyBelowKg: 1 });
  assert.is(trip.state, 'tripped');
});

test('banner: locks in both languages; a leak lock lists what is not clear and becomes resettable once it is', () => {
  assert.equal(bannerView([]), { locked: false, locks: [] });
  const upload = bannerView([{ lock: 'upload', detail: 'seq 4 is 7300 s old' }]);
  assert.equal(upload.locks, [{ lock: 'upload', zh: '充装数据上传滞后', en: 'Record uploads too far behind', detail: 'seq 4 is 7300 s old' }]);
  const leak = initialLeakState({ detectors: ['ld-1'], cutoffs: ['cv-1'], silentAfterMs: 1, cutoffAckTimeoutMs: 1, cutoffRetries: 1 }, 0);
  leak.latched = true;
  leak.detectors['ld-1'] = { level: 2, fault: false, silent: false };
  leak.cutoffs['cv-1'].phase = 'closing';
  const active = bannerView([{ lock: 'leak' }], leak).leak!;
  assert.equal(active.conditions.map((c) => c.en), ['Leak alarm level 2 at ld-1', 'Emergency cut-off cv-1 closing']);
  assert.not.ok(active.resettable);
  leak.detectors['ld-1'] = { level: 0, fault: false, silent: false };
  // Restored at a restart: not resettable until the detector has reported since start.
  const unheard = bannerView([{ lock: 'leak' }], leak).leak!;
  assert.not.ok(unheard.resettable);
  assert.equal(unheard.conditions.map((c) => c.en), ['Detector ld-1 has not reported since start', 'Emergency cut-off cv-1 closing']);
  leak.detectors['ld-1'] = { level: 0, fault: false, silent: false, lastAt: 5 };
  const cleared = bannerView([{ lock: 'leak' }], leak).leak!;
  assert.ok(cleared.resettable);
  assert.is(cleared.conditions[0].zh, '报警已解除，等待主管复位');
});

// ---- records filter ----------------------------------------------------------

test('records filter: days at the station offset (to inclusive), exact post and outcome, code substring; bad values are errors', () => {
  const q = parseRecordQuery(new URLSearchParams('from=2026-03-01&to=2026-03-01&post=P2&cylinder=B2000&outcome=refused'), 480);
  assert.equal(q, { fromMs: Date.UTC(2026, 2, 1) - 8 * 3_600_000, toMs: Date.UTC(2026, 2, 2) - 8 * 3_600_000, post: 'P2', cylinder: 'B2000', outcome: 'refused' });
  assert.equal(parseRecordQuery(new URLSearchParams('post=&cylinder=  ')), {});
  assert.is(dayStartMs('2026-03-01'), new Date(2026, 2, 1).getTime(), 'without an offset: this PC\'s time zone');
  for (const bad of ['from=2026-02-30', 'to=03/01/2026', 'outcome=ok', `cylinder=${'x'.repeat(200)}`]) {
    assert.throws(() => parseRecordQuery(new URLSearchParams(bad)), /date|outcome|too long/, bad);
  }
});

test.run();
