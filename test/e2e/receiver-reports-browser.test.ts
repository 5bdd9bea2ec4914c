/**
 * The inspector's report pages in a real headless browser (Debian chromium
 * driven by playwright-core) against a real receiver: refused until logged in,
 * log in, open each report from the navigation, see each breach listed, switch
 * to English. Nothing is fetched from another host. Run on both stores: SQLite,
 * then a real PostgreSQL (test/fixtures/postgres.ts).
 *
 * Screenshots go to $DASHBOARD_SHOTS or the OS temp dir, never into the repository.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { missing, skipIf } from '../fixtures/needs.ts';
import { INITDB, startPostgres, type TestPostgres } from '../fixtures/postgres.ts';
import { startReceiver, type RunningReceiver } from '../../gateway/receiver/server.ts';
import { hashPassword } from '../../gateway/mqtt/password.ts';
import { makeKeys } from '../gateway/records/fixtures.ts';
import { insertEvents, MIN, signedChain, T0 } from '../gateway/receiver/report-fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';

for (const store of ['sqlite', 'postgres'] as const) {
  const test = suite(`the inspector's pages on ${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`);
  const why = missing(CHROMIUM) ?? (store === 'postgres' ? missing(INITDB) : undefined);
  if (why) {
    skipIf(test, why)("the inspector's report pages in a real browser", () => undefined);
    test.run();
  } else browserTests(test, store);
}

function browserTests(test: ReturnType<typeof suite>, store: 'sqlite' | 'postgres'): void {
  let rx: RunningReceiver;
  let browser: Browser;
  let server: TestPostgres | undefined;
  const shots = process.env.DASHBOARD_SHOTS ?? mkdtempSync(join(tmpdir(), 'fg-receiver-shots-'));
  const st01 = makeKeys();
  const st02 = makeKeys();
  const noCheck = { checker: undefined, postFillCheck: undefined, reweighedGrossG: undefined, reweighedNetG: undefined };

  test.before(async () => {
    let now = T0;
    if (store === 'postgres') server = await startPostgres();
    rx = await startReceiver({
      dbPath: server ? await server.createDatabase('pages') : ':memory:', verifyThreads: 0, now: () => now,
      stations: { ST01: st01.publicKeyPem, ST02: st02.publicKeyPem },
      reports: { users: [{ name: 'insp', role: 'inspector', passwordHash: hashPassword('pw-insp', 1024) }], lang: 'zh' },
    });
    const recs = signedChain(st01.privateKey, 'ST01', [
      { min: 0, set: { cylinderCode: 'POCKET-1' } }, // 1 clean, but the code is filled at ST02 12 min later
      { min: 10, set: { outcome: 'filled_unchecked', postFillCheckMissing: true, ...noCheck } }, // 2
      { min: 20, set: { checker: { badge: 'B009', name: '张三', certificate: 'P-2024-0001' } } }, // 3
      { min: 30, set: { nextInspectionDue: '2026-01-31' } }, // 4
      { min: 40, set: { outcome: 'overfilled', mustDecant: true, toleranceState: 'over', netFilledG: 15_500, cylinderCode: 'OVER-1' } }, // 5
      { min: 50, set: { outcome: 'interrupted', trips: [{ code: 'PROCESS_INTERRUPTED', at: '2026-03-01T08:50:00.000+08:00' }], ...noCheck } }, // 6
      { min: 60, set: { clockJumpMs: 3_600_000 } }, // 7
      { min: 70, set: { outcome: 'unauthorised_fill', trips: [{ code: 'UNAUTHORISED_FILL', at: '2026-03-01T09:10:00.000+08:00' }], filler: undefined, cylinderCode: undefined, ...noCheck } }, // 8
      { min: 80, set: { filler: { badge: 'B001', name: '张三', certificate: 'P-2024-0001', certificateExpires: '2026-02-01' } } }, // 9
      { min: 90, set: { outcome: 'refused', refusals: [{ code: 'SCRAPPED' }], startedAt: undefined, netFilledG: undefined, ...noCheck } }, // 10
      { min: 100 }, // 11 uploaded two hours late
    ]);
    for (const r of recs) {
      now = Date.parse(r.recordedAt) + (r.seq === 11 ? 2 * 3_600_000 : 2_000);
      await rx.store.ingest([r]);
    }
    await rx.store.ingest([{ ...recs[0], seq: 12, id: 'tampered', netFilledG: 1 }]); // rejected: BAD_SIGNATURE
    await rx.store.ingest(signedChain(st02.privateKey, 'ST02', [{ min: 12, set: { cylinderCode: 'POCKET-1' } }], 'UNIT-YY-02'));
    await insertEvents(rx.store, st01.privateKey, 'ST01', [
      { min: 41, kind: 'alarm.raised', subject: 'ld-P1', reason: 'LEAK', post: 'P1', data: { alarmKind: 'leak', level: 2 } },
      { min: 42, kind: 'latch.set', subject: 'leak', by: 'condition', reason: 'LEAK_ALARM' },
      { min: 45, kind: 'alarm.cleared', subject: 'ld-P1', reason: 'LEAK' },
      { min: 46, kind: 'latch.lift', subject: 'leak', by: 'B007', reason: 'SUPERVISOR_RESET', detail: 'ventilated, detector clear' },
    ]);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  test.after(async () => {
    await browser?.close();
    await rx?.close();
    await server?.stop();
  });

  async function loggedIn(path: string): Promise<{ page: Page; outside: string[] }> {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(rx.url)) outside.push(r.url());
    });
    await page.goto(rx.url + path);
    assert.match(page.url(), /\/login\?next=/, 'a report page sends a stranger to the login form');
    await page.fill('#login-name', 'insp');
    await page.fill('#login-password', 'wrong');
    await page.click('#login-form button[type="submit"]');
    assert.is(await page.textContent('#login-error'), '用户名或密码错误');
    await page.fill('#login-name', 'insp');
    await page.fill('#login-password', 'pw-insp');
    await page.click('#login-form button[type="submit"]');
    await page.waitForSelector('main[data-report]');
    return { page, outside };
  }

  const rowKinds = (page: Page, table: string) => page.$$eval(`#${table} tbody tr[data-kind]`, (trs) => trs.map((tr) => `${tr.getAttribute('data-kind')}:${tr.getAttribute('data-seq')}`));

  test('log in, open each report from the navigation, see every breach listed (Chinese, then English)', async () => {
    const { page, outside } = await loggedIn('/reports/exceptions?station=ST01');
    assert.is(await page.getAttribute('main', 'data-report'), 'exceptions', 'back on the page asked for after the login');
    assert.equal((await rowKinds(page, 'exceptions')).sort(), [
      'certificate_expired:9', 'checker_is_filler:3', 'clock_jump:7', 'filled_elsewhere:1', 'interrupted:6', 'late_upload:11',
      'past_inspection:4', 'rejected_upload:12', 'unauthorised_fill:8', 'unchecked:2', 'unresolved_overfill:5',
    ]);
    assert.is(await page.textContent('#exceptions-total'), '共 11 项异常');
    assert.match(await page.textContent('#exceptions tr[data-kind="checker_is_filler"]') ?? '', /检查人员即充装人员.*B001 \/ B009/);
    assert.match(await page.textContent('#exceptions tr[data-kind="filled_elsewhere"]') ?? '', /POCKET-1.*ST02（UNIT-YY-02）/);
    await page.screenshot({ path: join(shots, 'receiver-exceptions-zh.png'), fullPage: true });

    await page.click('[data-nav="summary"]');
    await page.waitForSelector('#by-outcome');
    assert.is(await page.textContent('#by-outcome tr[data-code="filled"] td.n'), '6');
    assert.match(await page.textContent('#by-refusal tr[data-code="SCRAPPED"]') ?? '', /气瓶已报废/);
    assert.is(await page.textContent('#by-trip tr[data-code="UNAUTHORISED_FILL"] td.n'), '1');

    await page.click('[data-nav="persons"]');
    await page.waitForSelector('#persons');
    assert.is(await page.getAttribute('#persons tr[data-person="P-2024-0001"]', 'data-validity'), 'expired');
    assert.match(await page.textContent('#persons tr[data-person="P-2024-0001"]') ?? '', /已过期/);

    await page.click('[data-nav="alarms"]');
    await page.waitForSelector('#alarms');
    assert.equal(await rowKinds(page, 'alarms'), ['alarm.raised:1', 'latch.set:2', 'alarm.cleared:3', 'latch.lift:4']);
    assert.match(await page.textContent('#alarms tr[data-kind="latch.lift"]') ?? '', /解锁\/复位.*B007/);

    await page.click('[data-nav="cylinder"]');
    await page.fill('#f-code', 'POCKET-1');
    await page.click('#f-show');
    await page.waitForSelector('#history');
    assert.equal(await page.$$eval('#history tbody tr', (trs) => trs.map((tr) => `${tr.getAttribute('data-station')}:${tr.getAttribute('data-flag') ?? ''}`)), ['ST01:', 'ST02:two_units_within_interval']);
    assert.match(await page.textContent('#history tr[data-flag]') ?? '', /疑似口袋码/);

    await page.click('#lang-switch');
    await page.waitForSelector('#history');
    assert.match(await page.textContent('#history tr[data-flag]') ?? '', /Filled at two units within the refill interval/);
    await page.click('[data-nav="exceptions"]');
    await page.waitForSelector('#exceptions');
    assert.is(await page.textContent('#exceptions-total'), '11 exception(s)', 'the language choice is kept across pages');
    await page.screenshot({ path: join(shots, 'receiver-exceptions-en.png'), fullPage: true });

    // The CSV link downloads the same list.
    // (fetched from here with the browser's session cookie: the pages' CSP allows no script to fetch)
    const href = await page.getAttribute('[data-download="csv"]', 'href');
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const csv = await (await fetch(new URL(href!, rx.url), { headers: { cookie } })).text();
    assert.is(csv.trimEnd().split('\r\n').length, 12);
    assert.equal(outside, [], 'the pages fetch nothing from outside the receiver');

    // The index: every station's counts (one grouped query on each store).
    await page.goto(`${rx.url}/reports?lang=en`);
    await page.waitForSelector('#stations');
    const cells = await page.$$eval('#stations tbody tr[data-station]', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 6).map((td) => td.textContent)));
    assert.equal(cells.map((c) => [c[0], c[1], c[3], c[4], c[5]]), [['ST01', '11', '0', '1', '1'], ['ST02', '1', '0', '1', '0']]); // ST02's fill came in after ST01's late one: late too

    await page.click('#logout');
    await page.goto(`${rx.url}/reports/summary?station=ST01`);
    assert.match(page.url(), /\/login/, 'logged out: back to the login form');
  });

  test.run();
}
