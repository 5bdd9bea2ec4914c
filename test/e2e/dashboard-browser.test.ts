/**
 * The station dashboard in a real headless browser (Debian chromium driven by
 * playwright-core) against the real station, simulator and MQTT leak devices:
 * log in, watch a simulated fill progress to done, see a refusal with its reason
 * in Chinese and English on a red tile, reset a leak lock as supervisor after being
 * refused as operator (and as supervisor while the gas is still there).
 *
 * Screenshots go to $DASHBOARD_SHOTS or the OS temp dir, never into the repository.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { missing, skipIf } from '../fixtures/needs.ts';
import { startRig, beginFill, type Rig } from './rig.ts';
import { mqttSchema } from '../../gateway/mqtt/config.ts';
import { hashPassword } from '../../gateway/mqtt/password.ts';
import { startSimMqttDevices, type SimMqttFleet } from '../../sim/mqtt/index.ts';
import { startStatusServer, type StatusServer } from '../../gateway/http/server.ts';
import { testUsers, passwords } from '../gateway/dashboard-support.ts';

const CHROMIUM = '/usr/bin/chromium';

if (!existsSync(CHROMIUM)) {
  skipIf(test, missing(CHROMIUM))('the dashboard in a real browser', () => undefined);
  test.run();
} else {
  browserTests();
}

function browserTests(): void {
  let rig: Rig;
  let fleet: SimMqttFleet;
  let server: StatusServer;
  let browser: Browser;
  const shots = process.env.DASHBOARD_SHOTS ?? mkdtempSync(join(tmpdir(), 'fg-dashboard-shots-'));
  const devices = [
    { kind: 'leak-detector' as const, id: 'ld-P1', password: 'pw-ld', location: 'P1' },
    { kind: 'cutoff-valve' as const, id: 'cv-main', password: 'pw-cv', location: 'yard' },
  ];

  test.before(async () => {
    rig = await startRig({
      stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 20)),
      tweak: (cfg) => {
        cfg.mqtt = mqttSchema.parse({
          broker: { host: '127.0.0.1', port: 0, devices: devices.map((d) => ({ id: d.id, kind: d.kind, passwordHash: hashPassword(d.password, 1024), location: d.location })) },
        });
      },
    });
    fleet = await startSimMqttDevices(
      { station: rig.config.station.code, devices: devices.map(({ location: _l, ...d }) => ({ ...d, stateEveryMs: 500 })) },
      `mqtt://127.0.0.1:${rig.station.mqtt!.broker.ports.tcp}`,
    );
    await rig.until('devices connected', () => rig.station.mqtt!.broker.connectedDevices().length === devices.length, 10_000);
    await rig.until('no leak lock once detectors report clear', () => !rig.station.mqtt!.leak.locked, 10_000);
    server = await startStatusServer(rig.station, { host: '127.0.0.1', port: 0, users: testUsers(), lang: 'zh' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  test.after(async () => {
    await browser?.close();
    await server?.close();
    await fleet?.stop();
    await rig?.close();
  });

  /** A fresh screen (own cookies and language), logged in as `who`. */
  async function screen(who: 'op' | 'sup', path = '/', viewport = { width: 1280, height: 800 }): Promise<Page> {
    const ctx = await browser.newContext({ viewport });
    const page = await ctx.newPage();
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(server.url)) outside.push(r.url());
    });
    await page.goto(server.url + path);
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill('#login-name', who);
    await page.fill('#login-password', passwords[who]);
    await page.click('#login-form button[type="submit"]');
    await page.waitForSelector('.tile[data-post="P1"]');
    assert.equal(outside, [], 'the dashboard fetches nothing from outside the gateway');
    return page;
  }

  const tile = (page: Page, post: string) => page.locator(`.tile[data-post="${post}"]`);
  /**
   * A computed style of the element the page holds now, read in one step in the page: tiles are
   * re-rendered (replaced) on every update, so a handle taken first can be detached by the time it
   * is read, and a detached element's style is empty.
   */
  const styleNow = (page: Page, selector: string, prop: string) =>
    page
      .waitForFunction(
        ([sel, name]) => {
          const el = document.querySelector(sel);
          return (el && getComputedStyle(el).getPropertyValue(name)) || false;
        },
        [selector, prop] as const,
      )
      .then((h) => h.jsonValue() as Promise<string>);
  const weight = async (page: Page, post: string) => Number(await tile(page, post).locator('.weight-num').getAttribute('data-gross'));

  test('log in, watch a fill progress to done, then a refusal with its reason in Chinese and English on a red tile', async () => {
    const page = await screen('op');
    assert.is(await page.textContent('[data-nav="tiles"]'), '充装枪', 'the screen starts in the configured language');
    const code = 'E2000017A1B20001';
    await beginFill(rig, 'P1', code);
    await page.waitForSelector('.tile[data-post="P1"][data-phase="cylinderReady"]', { timeout: 15_000 });
    rig.sim.press('P1', 'start', 300);
    await page.waitForSelector('.tile[data-post="P1"][data-state="filling"]', { timeout: 15_000 });
    const first = await weight(page, 'P1');
    await page.waitForFunction((w) => Number(document.querySelector('.tile[data-post="P1"] .weight-num')?.getAttribute('data-gross')) > w + 0.1, first, { timeout: 15_000 });
    assert.ok((await weight(page, 'P1')) > first, 'the weight on the tile rises while filling');
    assert.is(await tile(page, 'P1').locator('.tile-phase').textContent(), '充装中');
    assert.match(await tile(page, 'P1').locator('.fact.code dd').textContent() ?? '', code);
    await page.screenshot({ path: join(shots, 'tiles-filling.png') });
    const green = await styleNow(page, '.tile[data-post="P1"][data-state="filling"]', 'background-color');
    assert.is(green, 'rgb(15, 123, 52)', 'filling is green');

    await page.waitForSelector('.tile[data-post="P1"][data-phase="checked"]', { timeout: 30_000 });
    rig.sim.toCheck('P1');
    rig.sim.badge('P1', 'B1002');
    await rig.until('re-weighed', () => rig.phase('P1') === 'reweighed');
    rig.sim.removeCheck();
    await page.waitForSelector('.tile[data-post="P1"][data-state="done"]', { timeout: 15_000 });
    assert.is(await tile(page, 'P1').locator('.tile-phase').textContent(), '充装合格');

    rig.sim.place('P2', 'E2000017A1B20008'); // inspection overdue
    await rig.until('P2 loaded', () => rig.sim.state().posts.find((p) => p.id === 'P2')!.scale.grossKg > 1);
    rig.sim.scan('P2', 'E2000017A1B20008');
    await page.waitForSelector('.tile[data-post="P2"][data-state="refused"]', { timeout: 15_000 });
    const p2 = tile(page, 'P2');
    assert.is(await p2.locator('.reason[data-code="INSPECTION_OVERDUE"] .reason-zh').textContent(), '气瓶超期未检');
    assert.is(await p2.locator('.reason[data-code="INSPECTION_OVERDUE"] .reason-en').textContent(), 'Periodic inspection overdue');
    assert.is(await styleNow(page, '.tile[data-post="P2"][data-state="refused"]', 'background-color'), 'rgb(196, 22, 28)', 'refused is red');
    await page.screenshot({ path: join(shots, 'tiles-refused.png') });

    // The language is this screen's own setting.
    await page.click('#lang-switch');
    assert.is(await page.textContent('[data-nav="tiles"]'), 'Posts');
    assert.is(await tile(page, 'P2').locator('.tile-phase').textContent(), 'Refused');
    assert.is(await p2.locator('.reason-zh').first().textContent(), '气瓶超期未检', 'reasons stay bilingual');

    // Records: the refusal is there with its reason; the export link carries the filter.
    await page.click('[data-nav="records"]');
    await page.selectOption('#records-outcome', 'refused');
    await page.click('#records-form button[type="submit"]');
    await page.waitForSelector('#records-table tr.outcome-refused');
    assert.match(await page.textContent('#records-table tbody') ?? '', /Periodic inspection overdue/);
    assert.match((await page.getAttribute('#records-export', 'href')) ?? '', /outcome=refused/);
    await page.screenshot({ path: join(shots, 'records.png') });
    await page.click('[data-nav="status"]');
    await page.waitForSelector('#status-devices tr.health-online');
    rig.sim.remove('P2');
    rig.sim.remove('P1');
    await page.context().close();
  });

  test('an 800×480 post panel: nothing overflows, the header is one row, codes do not wrap; a favicon; operators see no import report', async () => {
    const page = await screen('op', '/', { width: 800, height: 480 });
    // A cylinder on P1 so its code is on the tile.
    rig.sim.place('P1', 'E2000017A1B20004');
    await rig.until('P1 loaded', () => rig.sim.state().posts.find((p) => p.id === 'P1')!.scale.grossKg > 1);
    rig.sim.scan('P1', 'E2000017A1B20004');
    await page.waitForSelector('.tile[data-post="P1"][data-phase="verified"]', { timeout: 15_000 });
    await page.screenshot({ path: join(shots, 'panel-800x480.png') });
    // Plain strings: tsx would wrap named functions in a helper the page does not have.
    const layout = (await page.evaluate(`(() => {
      const vw = window.innerWidth;
      const overflowing = [...document.querySelectorAll('body *')]
        .filter((el) => el.offsetParent !== null)
        .filter((el) => {
          const r = el.getBoundingClientRect();
          return r.right > vw + 0.5 || r.left < -0.5 || (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible' && el.clientWidth > 0);
        })
        .map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + [...el.classList].join('.'));
      const top = document.getElementById('top');
      const navTops = [...top.querySelectorAll('nav a')].map((a) => Math.round(a.getBoundingClientRect().top));
      const code = document.querySelector('.tile[data-post="P1"] .fact.code dd');
      const range = document.createRange();
      range.selectNodeContents(code.firstChild);
      const codeLines = new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
      return { scrollWidth: document.documentElement.scrollWidth, vw, overflowing, headerHeight: top.getBoundingClientRect().height, navRows: new Set(navTops).size, codeLines, codeText: code.textContent };
    })()`)) as { scrollWidth: number; vw: number; overflowing: string[]; headerHeight: number; navRows: number; codeLines: number; codeText: string | null };
    assert.ok(layout.scrollWidth <= layout.vw, `page ${layout.scrollWidth} px wide in a ${layout.vw} px panel`);
    assert.equal(layout.overflowing, [], 'elements overflowing their boxes or the panel');
    assert.is(layout.navRows, 1, 'the navigation is one row');
    assert.ok(layout.headerHeight <= 64, `header ${layout.headerHeight} px high`);
    assert.match(layout.codeText ?? '', /E2000017A1B20004/);
    assert.is(layout.codeLines, 1, 'the cylinder code is on one line');
    // A refusal and a fault do not look the same.
    const colours = (await page.evaluate(`(() => {
      const probe = (cls) => {
        const el = document.createElement('article');
        el.className = 'tile ' + cls;
        document.body.append(el);
        const c = getComputedStyle(el).backgroundColor;
        el.remove();
        return c;
      };
      return { refused: probe('state-refused'), fault: probe('state-fault') };
    })()`)) as { refused: string; fault: string };
    assert.is.not(colours.fault, colours.refused, 'fault and refusal have different colours');
    const icon = await page.evaluate(async () => {
      const link = document.querySelector('link[rel="icon"]') as HTMLLinkElement | null;
      if (!link) return { href: '', status: 0 };
      const r = await fetch(link.href);
      return { href: link.href, status: r.status };
    });
    assert.is(icon.status, 200, `favicon ${icon.href}`);
    await page.click('[data-nav="registry"]');
    await page.waitForSelector('#registry-table tbody tr');
    assert.not.ok(await page.isVisible('#import-report'), 'no import report for an operator');
    assert.not.ok(await page.isVisible('#import-issues'), 'no import issues table for an operator');
    rig.sim.remove('P1');
    await rig.until('P1 idle again', () => rig.phase('P1') === 'idle' || rig.phase('P1') === 'aborted', 20_000);
    await page.context().close();
  });

  test('a tile greys out the weight of an offline scale and says how old it is; a refusal goes once the scale is empty', async () => {
    const page = await screen('op');
    rig.sim.place('P2', 'E2000017A1B20010'); // scrapped: refused
    await rig.until('P2 loaded', () => rig.sim.state().posts.find((p) => p.id === 'P2')!.scale.grossKg > 1);
    rig.sim.scan('P2', 'E2000017A1B20010');
    await page.waitForSelector('.tile[data-post="P2"][data-state="refused"]', { timeout: 15_000 });
    rig.sim.remove('P2');
    await page.waitForSelector('.tile[data-post="P2"][data-state="idle"]', { timeout: 15_000 });
    assert.is(await tile(page, 'P2').locator('.reason').count(), 0, 'the refusal went with the cylinder');
    assert.is.not(
      await styleNow(page, '.tile[data-post="P2"][data-state="idle"]', 'background-color'),
      'rgb(196, 22, 28)',
      'an empty idle post is not red',
    );
    // P1's scale stops answering: the last weight stays, greyed out, with its age and the scale's state.
    await page.waitForSelector('.tile[data-post="P1"] .weight[data-stale="false"]');
    rig.sim.setFault({ device: 'P1.scale', kind: 'no-answer' });
    await page.waitForSelector('.tile[data-post="P1"] .weight[data-stale="true"]', { timeout: 15_000 });
    await page.waitForFunction(() => /秒前的读数/.test(document.querySelector('.tile[data-post="P1"] .weight-age')?.textContent ?? ''), undefined, { timeout: 15_000 });
    const opacity = Number(await styleNow(page, '.tile[data-post="P1"] .weight-num', 'opacity'));
    assert.ok(opacity < 0.5, `stale digits greyed out (opacity ${opacity})`);
    await page.waitForFunction(() => /离线/.test(document.querySelector('.tile[data-post="P1"] .scale-health')?.textContent ?? ''), undefined, { timeout: 20_000 });
    await page.screenshot({ path: join(shots, 'tile-scale-offline.png') });
    rig.sim.clearFaults('P1.scale');
    await page.waitForSelector('.tile[data-post="P1"] .weight[data-stale="false"]', { timeout: 20_000 });
    await page.context().close();
  });

  test('leak lock: the operator is refused the reset, the supervisor is refused while gas is present, then resets it', async () => {
    const op = await screen('op');
    fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 60 });
    await op.waitForSelector('#banner:not([hidden]) #leak-reset:not([hidden])', { timeout: 15_000 });
    assert.match(await op.textContent('#banner') ?? '', /站点锁定/);
    assert.match(await op.textContent('#banner-conditions') ?? '', /ld-P1/);
    await op.screenshot({ path: join(shots, 'banner-leak.png') });
    await op.click('#leak-reset');
    await op.waitForSelector('#banner-message.error');
    assert.match(await op.textContent('#banner-message') ?? '', /权限不足/);
    assert.ok(rig.station.mqtt!.leak.locked, 'still locked after the operator tried');

    const sup = await screen('sup');
    await sup.waitForSelector('#leak-reset:not([hidden])');
    await sup.click('#leak-reset');
    await sup.waitForSelector('#banner-message.error');
    assert.match(await sup.textContent('#banner-message') ?? '', /复位被拒绝/);
    assert.match(await sup.textContent('#banner-message') ?? '', /ld-P1/, 'the refusal names the detector still in alarm');
    assert.ok(rig.station.mqtt!.leak.locked);

    fleet.act({ atMs: 0, device: 'ld-P1', action: 'gas', lel: 2 });
    await sup.waitForFunction(() => document.querySelector('#banner-conditions')?.textContent?.includes('等待主管复位'), undefined, { timeout: 15_000 });
    await sup.click('#leak-reset');
    await sup.waitForSelector('#banner-message.ok', { timeout: 10_000 });
    await rig.until('lock lifted', () => !rig.station.mqtt!.leak.locked, 5000);
    assert.is(rig.station.mqtt!.leak.interlock.state.lastReset?.badge, 'web:sup', 'the reset is recorded with the supervisor');
    await op.waitForSelector('#banner', { state: 'hidden', timeout: 10_000 });
    await op.context().close();
    await sup.context().close();
  });

  test.run();
}
