/**
 * The one message catalogue (issue 6): every key in both languages, every reason
 * code in it, reasons.ts still answering as before, and the dashboard's screens
 * taking every word from it (no literal text in the HTML, no unknown key in the JS).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { catalog, t, both, reasonText, cliLang, parseLang, catalogForBrowser, hasMessage } from '../../gateway/i18n/index.ts';
import { reasonMessage, refusalReasons, tripReasons } from '../../gateway/reasons.ts';
import { PUBLIC_DIR } from '../../gateway/http/dashboard/static.ts';
import { outcomes } from '../../gateway/http/dashboard/records.ts';
import { outcomeLine } from '../../gateway/cli/outcome-line.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';

/** Texts that are the same in both languages on purpose. */
const ZH_NOT_CHINESE = new Set(['lang.other']);

test('every message has a Chinese and an English text, and the same placeholders in both', () => {
  const keys = Object.keys(catalog);
  assert.ok(keys.length > 150, `${keys.length} messages`);
  for (const [k, m] of Object.entries(catalog)) {
    assert.ok(m.zh.trim() && m.en.trim(), `${k} has both texts`);
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((x) => x[1]).sort();
    assert.equal(names(m.zh), names(m.en), `${k}: placeholders`);
    assert.ok(/[\u4e00-\u9fff]/.test(m.zh) || ZH_NOT_CHINESE.has(k), `${k}: the zh text is Chinese`);
  }
});

test('every refusal and trip code is in the catalogue; reasons.ts answers exactly as before', () => {
  for (const code of [...Object.keys(refusalReasons), ...Object.keys(tripReasons)]) {
    assert.ok(hasMessage(`reason.${code}`), code);
    assert.is(reasonMessage(code as never, 'zh'), t(`reason.${code}`, 'zh'));
    assert.is(reasonMessage(code as never, 'en'), t(`reason.${code}`, 'en'));
  }
  assert.is(reasonMessage('SCRAPPED', 'zh'), '气瓶已报废');
  assert.is(reasonMessage('OVERFILL'), 'Allowed fill mass reached: overfill cut-off');
  assert.equal(reasonText('INSPECTION_OVERDUE'), { zh: '气瓶超期未检', en: 'Periodic inspection overdue' });
  assert.equal(reasonText('NO_SUCH_CODE'), { zh: 'NO_SUCH_CODE', en: 'NO_SUCH_CODE' }, 'an unknown code shows itself');
});

test('t() fills placeholders, keeps a missing one visible and returns an unknown key as itself', () => {
  assert.is(t('records.count', 'en', { n: 3 }), '3 records');
  assert.is(t('records.count', 'zh', { n: 3 }), '共 3 条');
  assert.is(t('records.count', 'en'), '{n} records');
  assert.is(t('no.such.key', 'zh'), 'no.such.key');
  assert.equal(both('leak.level', { device: 'ld-1', level: 2 }), { zh: 'ld-1 燃气泄漏 2 级报警', en: 'Leak alarm level 2 at ld-1' });
  assert.equal(Object.keys(catalogForBrowser().zh).length, Object.keys(catalog).length);
});

test('the CLI language comes from FILLGATE_LANG, English by default', () => {
  assert.is(cliLang({}), 'en');
  assert.is(cliLang({ FILLGATE_LANG: 'zh' }), 'zh');
  assert.is(cliLang({ FILLGATE_LANG: 'zh_CN.UTF-8' }), 'zh');
  assert.is(cliLang({ FILLGATE_LANG: 'fr' }), 'en', 'an unsupported language falls back');
  assert.is(parseLang('EN-us'), 'en');
  assert.is(parseLang(undefined), undefined);
});

test('CLI outcome lines: words in the chosen language, codes unchanged, refusal reasons always in both', () => {
  const base = { attemptId: 'a', station: 'S', unit: 'U', post: 'P1', cylinderCode: 'C1', model: 'YSP12', trips: [], refusals: [] };
  const filled: FillAttempt = { ...base, outcome: 'filled', netFilledKg: 4.8, residualKg: 0.1, targetKg: 4.9, allowedFillKg: 5, filler: { badge: 'B1' }, checker: { badge: 'B2' }, reweighedGrossKg: 11.4 };
  assert.match(outcomeLine(filled, 'en'), /FILLED .*content 4\.90 kg \(target 4\.90 kg, allowed 5\.00 kg\).*re-weighed 11\.40 kg.*filler B1 checker B2/);
  assert.match(outcomeLine(filled, 'zh'), /合格 .*瓶内 4\.90 kg（目标 4\.90 kg，允许 5\.00 kg）.*复称 11\.40 kg.*充装 B1 检查 B2/);
  const refused: FillAttempt = { ...base, outcome: 'refused', refusals: [{ code: 'SCRAPPED' }] };
  for (const lang of ['zh', 'en'] as const) assert.match(outcomeLine(refused, lang), /SCRAPPED 气瓶已报废 \/ Cylinder is scrapped/);
  assert.match(outcomeLine(refused, 'en'), /REFUSED/);
  assert.match(outcomeLine(refused, 'zh'), /拒绝/);
});

const files = readdirSync(PUBLIC_DIR);
const read = (f: string) => readFileSync(join(PUBLIC_DIR, f), 'utf8');

test('the dashboard HTML has no text of its own: every word comes from a data-i18n key that exists', () => {
  const html = read('index.html');
  const text = html
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(script|style)[\s\S]*?<\/\1>/g, '')
    .replace(/<[^>]+>/g, '')
    .trim();
  assert.is(text, '', `literal text in index.html: ${JSON.stringify(text.slice(0, 200))}`);
  const keys = [...html.matchAll(/data-i18n(?:-ph)?="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(keys.length > 40);
  for (const k of keys) assert.ok(hasMessage(k), `index.html uses unknown key ${k}`);
  assert.not.match(html, /placeholder="|title="[^"]/, 'no untranslated attribute text');
});

test('the dashboard scripts use only catalogue keys, and every key family they build exists for each value', () => {
  const js = files.filter((f) => f.endsWith('.js'));
  assert.ok(js.length >= 4);
  for (const f of js) {
    const src = read(f);
    for (const m of src.matchAll(/\bT\('([^']+)'/g)) assert.ok(hasMessage(m[1]), `${f}: T('${m[1]}')`);
    // No bare user-facing strings passed to the element builder (digits, punctuation and variables only).
    for (const m of src.matchAll(/h\('[a-z0-9]+', \{[^}]*\}, '([^']*)'\)/g)) assert.ok(!/[A-Za-z\u4e00-\u9fff]{2,}/.test(m[1]), `${f}: literal text '${m[1]}'`);
  }
  const families: Record<string, readonly string[]> = {
    phase: ['idle', 'identified', 'verified', 'cylinderReady', 'filling', 'toppingUp', 'cutOff', 'settling', 'checked', 'reweighed', 'closedOut', 'aborted', 'fault'],
    outcome: outcomes,
    role: ['operator', 'supervisor', 'integrator'],
    opRole: ['filler', 'checker', 'supervisor'],
    cylinder: ['active', 'quarantined', 'scrapped'],
    health: ['online', 'degraded', 'offline'],
    severity: ['error', 'warning'],
    'banner.lock': ['leak', 'upload', 'store'],
  };
  for (const [prefix, values] of Object.entries(families)) for (const v of values) assert.ok(hasMessage(`${prefix}.${v}`), `${prefix}.${v}`);
});

test('no screen file loads anything from another host', () => {
  for (const f of files) assert.not.match(read(f), /(src|href)=["']?(https?:)?\/\/|@import\s+url\(|fonts\.googleapis|cdn\./i, f);
});

test.run();
