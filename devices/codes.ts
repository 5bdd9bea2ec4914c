/**
 * Turning what an ID reader sends into a cylinder or badge code (domain.md 3:
 * codes seen in practice are RFID UIDs in hex, numeric codes, and QR codes
 * holding a URL whose last path segment or a query parameter is the code; a
 * code is unique and never reused, so normalisation must be deterministic:
 * the same tag always gives the same string).
 *
 * Rules are data, tried in order; the first that accepts the input wins. Badges
 * come through the same reader and are told apart by rule, e.g.
 *   [{ match: 'hex', length: 8, kind: 'badge' },          // 4-byte MIFARE UIDs are operator badges
 *    { match: 'numeric', prefix: 'B', keepPrefix: true, kind: 'badge' },
 *    { match: 'url', hosts: ['qr.example.cn'], kind: 'cylinder' },
 *    { match: 'hex', length: [14, 16, 24], kind: 'cylinder' }]
 *
 * Common fields: `kind`; `prefix` (the input must start with it, removed before
 * matching, put back in front of the code when `keepPrefix`); `name` for messages.
 *   hex:     separators ':' '-' ' ' removed (unless `separators: false`), hex digits
 *            only, `length` in hex digits (one or a list), `reverseBytes` for readers
 *            that send the UID LSB first; code is uppercase.
 *   numeric: digits only; `padTo` adds leading zeros up to that length; `length`
 *            (after padding) or `minLength`/`maxLength` bound it.
 *   url:     http(s) URL; `hosts` allow-list (a QR code of another company is not
 *            ours); code = query parameter `param`, else the last path segment;
 *            `pattern` (whole-string regex) the extracted code must match.
 *   regex:   `pattern` (+ `flags`) must match; code = named group `code`, else
 *            group 1, else the whole match; `upper` uppercases it.
 */
import { FillgateError } from '../protocols/errors.ts';
import type { CodeKind } from './types.ts';

export type { CodeKind } from './types.ts';

interface RuleBase {
  kind: CodeKind;
  prefix?: string;
  keepPrefix?: boolean;
  name?: string;
}
export interface HexRule extends RuleBase {
  match: 'hex';
  length?: number | number[];
  reverseBytes?: boolean;
  separators?: boolean;
}
export interface NumericRule extends RuleBase {
  match: 'numeric';
  length?: number;
  minLength?: number;
  maxLength?: number;
  padTo?: number;
}
export interface UrlRule extends RuleBase {
  match: 'url';
  param?: string;
  hosts?: string[];
  pattern?: string;
}
export interface RegexRule extends RuleBase {
  match: 'regex';
  pattern: string;
  flags?: string;
  upper?: boolean;
}
export type CodeRule = HexRule | NumericRule | UrlRule | RegexRule;

export type CodeResult = { code: string; kind: CodeKind } | { error: string };
export type CodeNormaliser = (raw: string) => CodeResult;

type Step = (input: string) => { code: string } | { error: string };

function regexOf(pattern: string, flags: string | undefined, where: string, errors: string[]): RegExp | undefined {
  try {
    return new RegExp(pattern, flags);
  } catch (err) {
    errors.push(`${where}: pattern is not a valid regular expression (${(err as Error).message})`);
    return undefined;
  }
}

function hexStep(rule: HexRule): Step {
  const lengths = rule.length === undefined ? undefined : ([] as number[]).concat(rule.length);
  return (input) => {
    const s = rule.separators === false ? input : input.replace(/[:\- ]/g, '');
    if (!/^[0-9A-Fa-f]+$/.test(s)) return { error: 'not hex digits' };
    if (lengths && !lengths.includes(s.length)) return { error: `${s.length} hex digits, expected ${lengths.join(' or ')}` };
    let code = s.toUpperCase();
    if (rule.reverseBytes) {
      if (code.length % 2) return { error: 'odd number of hex digits cannot be byte-reversed' };
      code = code.match(/../g)!.reverse().join('');
    }
    return { code };
  };
}

function numericStep(rule: NumericRule): Step {
  return (input) => {
    if (!/^\d+$/.test(input)) return { error: 'not digits only' };
    if (rule.padTo !== undefined && input.length > rule.padTo) return { error: `${input.length} digits, more than ${rule.padTo}` };
    const code = rule.padTo !== undefined ? input.padStart(rule.padTo, '0') : input;
    if (rule.length !== undefined && code.length !== rule.length) return { error: `${code.length} digits, expected ${rule.length}` };
    if (rule.minLength !== undefined && code.length < rule.minLength) return { error: `${code.length} digits, fewer than ${rule.minLength}` };
    if (rule.maxLength !== undefined && code.length > rule.maxLength) return { error: `${code.length} digits, more than ${rule.maxLength}` };
    return { code };
  };
}

function urlStep(rule: UrlRule, re: RegExp | undefined): Step {
  const hosts = rule.hosts?.map((h) => h.toLowerCase());
  return (input) => {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      return { error: 'not a URL' };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: `URL scheme ${url.protocol} is not http(s)` };
    if (hosts && !hosts.includes(url.hostname)) return { error: `URL host ${url.hostname} is not one of ${hosts.join(', ')}` };
    let code: string | null | undefined;
    if (rule.param !== undefined) code = url.searchParams.get(rule.param);
    else code = url.pathname.split('/').filter((p) => p !== '').pop();
    if (!code) return { error: rule.param !== undefined ? `URL has no parameter "${rule.param}"` : 'URL has no path segment' };
    if (rule.param === undefined) {
      try {
        code = decodeURIComponent(code);
      } catch {
        return { error: 'URL path segment is not valid percent-encoding' };
      }
    }
    if (re && !re.test(code)) return { error: `code "${code}" from the URL does not match ${rule.pattern}` };
    return { code };
  };
}

function regexStep(rule: RegexRule, re: RegExp): Step {
  return (input) => {
    const m = re.exec(input);
    if (!m) return { error: `does not match ${rule.pattern}` };
    const code = m.groups?.code ?? m[1] ?? m[0];
    return code ? { code: rule.upper ? code.toUpperCase() : code } : { error: 'pattern matched an empty code' };
  };
}

function stepFor(rule: CodeRule, where: string, errors: string[]): Step | undefined {
  switch (rule.match) {
    case 'hex':
      return hexStep(rule);
    case 'numeric':
      return numericStep(rule);
    case 'url': {
      const re = rule.pattern === undefined ? undefined : regexOf(`^(?:${rule.pattern})$`, undefined, where, errors);
      return urlStep(rule, re);
    }
    case 'regex': {
      if (typeof rule.pattern !== 'string') {
        errors.push(`${where}: regex rule needs a pattern`);
        return undefined;
      }
      const re = regexOf(rule.pattern, rule.flags, where, errors);
      return re && regexStep(rule, re);
    }
    default:
      errors.push(`${where}: match must be hex, numeric, url or regex`);
      return undefined;
  }
}

/**
 * Compile an ordered rule list into a normaliser. Throws FillgateError
 * BAD_CONFIG listing every bad rule (at startup, never per read).
 */
export function compileCodeRules(rules: readonly CodeRule[]): CodeNormaliser {
  const errors: string[] = [];
  if (!Array.isArray(rules) || rules.length === 0) errors.push('rules: at least one code rule is needed');
  const compiled = (Array.isArray(rules) ? rules : []).map((rule, i) => {
    const where = `rules[${i}]`;
    if (rule.kind !== 'cylinder' && rule.kind !== 'badge') errors.push(`${where}: kind must be cylinder or badge`);
    const step = stepFor(rule, where, errors);
    return { rule, label: rule.name ?? `${rule.match}#${i}`, step };
  });
  if (errors.length > 0) throw new FillgateError('BAD_CONFIG', `bad code rules: ${errors.join('; ')}`, { errors });

  return (raw: string): CodeResult => {
    const input = raw.trim();
    if (input === '') return { error: 'empty code' };
    if (/[\x00-\x1f\x7f]/.test(input)) return { error: 'code contains control characters' };
    const why: string[] = [];
    for (const { rule, label, step } of compiled) {
      let rest = input;
      if (rule.prefix !== undefined) {
        if (!input.startsWith(rule.prefix)) {
          why.push(`${label}: no prefix "${rule.prefix}"`);
          continue;
        }
        rest = input.slice(rule.prefix.length);
      }
      const r = step!(rest);
      if ('error' in r) {
        why.push(`${label}: ${r.error}`);
        continue;
      }
      return { code: rule.keepPrefix && rule.prefix ? rule.prefix + r.code : r.code, kind: rule.kind };
    }
    return { error: `no rule accepts "${input.length > 80 ? input.slice(0, 80) + '…' : input}" (${why.join('; ')})` };
  };
}
