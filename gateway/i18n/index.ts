/**
 * The one message catalogue (issue 6 point 1): every text a person reads —
 * dashboard screens, refusal and trip reasons, CLI lines — in Chinese and
 * English, under one key each. Reasons are keyed `reason.<CODE>`.
 *
 *   t('phase.filling', 'zh')                      → '充装中'
 *   t('records.count', 'en', { n: 3 })            → '3 records'
 *   both('reason.SCRAPPED')                       → { zh: '气瓶已报废', en: 'Cylinder is scrapped' }
 */
import { refusalReasons, tripReasons } from './reasons.ts';
import { uiMessages } from './ui.ts';
import { cliMessages } from './cli.ts';
import { reportMessages } from './reports.ts';
import { langs, type Lang, type Message } from './types.ts';

export { langs, type Lang, type Message } from './types.ts';

type ReasonKey = `reason.${keyof typeof refusalReasons | keyof typeof tripReasons}`;
export type MessageKey = ReasonKey | keyof typeof uiMessages | keyof typeof cliMessages | keyof typeof reportMessages;
export type Params = Record<string, string | number | undefined>;

function reasonEntries(): [string, Message][] {
  // A code in both tables (SCALE_OVERLOAD, DEVICE_OFFLINE) keeps its refusal text, as reasonMessage does.
  const out = new Map<string, Message>();
  for (const [code, m] of Object.entries(tripReasons)) out.set(`reason.${code}`, m);
  for (const [code, m] of Object.entries(refusalReasons)) out.set(`reason.${code}`, m);
  return [...out];
}

/** Every message by key. */
export const catalog: Readonly<Record<string, Message>> = Object.freeze(
  Object.fromEntries([...reasonEntries(), ...Object.entries(uiMessages), ...Object.entries(cliMessages), ...Object.entries(reportMessages)]),
);

export function hasMessage(key: string): boolean {
  return Object.hasOwn(catalog, key);
}

/** Fills `{name}` placeholders; a missing value stays visible as `{name}` rather than vanish. */
export function format(text: string, params?: Params): string {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (all, name: string) => (params[name] === undefined ? all : String(params[name])));
}

/** The text of `key` in `lang`; an unknown key returns the key itself, so a gap shows instead of crashing a screen. */
export function t(key: MessageKey | (string & {}), lang: Lang, params?: Params): string {
  const m = catalog[key];
  return m ? format(m[lang], params) : key;
}

/** Both languages at once, e.g. a refusal reason on a post tile. */
export function both(key: MessageKey | (string & {}), params?: Params): Message {
  return { zh: t(key, 'zh', params), en: t(key, 'en', params) };
}

/** A reason code (refusal, trip) in both languages; unknown codes show the code. */
export function reasonText(code: string): Message {
  return hasMessage(`reason.${code}`) ? both(`reason.${code}`) : { zh: code, en: code };
}

export function parseLang(v: unknown): Lang | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase();
  if (s === 'zh' || s.startsWith('zh-') || s.startsWith('zh_')) return 'zh';
  if (s === 'en' || s.startsWith('en-') || s.startsWith('en_')) return 'en';
  return undefined;
}

/** The CLI's language: FILLGATE_LANG (zh|en), else `fallback` (English: what scripts and the README expect). */
export function cliLang(env: NodeJS.ProcessEnv = process.env, fallback: Lang = 'en'): Lang {
  return parseLang(env.FILLGATE_LANG) ?? fallback;
}

/** The catalogue as the browser loads it: `{ zh: {key: text}, en: {key: text} }`. */
export function catalogForBrowser(): Record<Lang, Record<string, string>> {
  const out = { zh: {}, en: {} } as Record<Lang, Record<string, string>>;
  for (const [k, m] of Object.entries(catalog)) for (const l of langs) out[l][k] = m[l];
  return out;
}
