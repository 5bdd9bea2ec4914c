// Shared by the dashboard's screens: the message catalogue, the screen's language,
// a safe element builder (text only: cylinder codes come from scanned QR text) and
// the API helper. Plain browser JavaScript, no build step.

export const state = { lang: 'zh', catalog: { zh: {}, en: {} }, session: null, allowed: [], posts: [] };

/** The catalogue's text for `key` in this screen's language; `{name}` filled from params. */
export function T(key, params) {
  const text = state.catalog[state.lang]?.[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (all, name) => (params[name] === undefined ? all : String(params[name])));
}

/** A bilingual message object ({zh, en}) in this screen's language. */
export const pick = (m) => (m ? m[state.lang] ?? m.en : '');

/** Fills every [data-i18n] (text) and [data-i18n-ph] (placeholder) under root. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = T(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.placeholder = T(el.dataset.i18nPh);
  document.documentElement.lang = state.lang;
  document.title = T('app.title');
}

/** Each screen keeps its own language (issue 6): stored in this browser, sent to the gateway as a cookie. */
export function setLang(lang) {
  state.lang = lang === 'en' ? 'en' : 'zh';
  try {
    localStorage.setItem('fg_lang', state.lang);
  } catch {
    // private mode: the choice lasts for this page only
  }
  document.cookie = `fg_lang=${state.lang}; path=/; max-age=31536000; samesite=strict`;
}

export function savedLang() {
  const q = new URLSearchParams(location.search).get('lang');
  if (q === 'zh' || q === 'en') return q;
  try {
    return localStorage.getItem('fg_lang');
  } catch {
    return null;
  }
}

/** h('td', { class: 'x' }, 'text', child): children are text nodes or elements, never parsed HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k.startsWith('data-')) el.setAttribute(k, String(v));
    else if (k in el) el[k] = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export class ApiFailure extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
  /** The gateway's bilingual message, in this screen's language. */
  text() {
    return this.body?.message ? pick(this.body.message) : this.message;
  }
}

/** JSON API call; a 401 sends the screen back to the login form. */
export async function api(path, opts = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...opts });
  const type = res.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    if (res.status === 401 && path !== '/api/login') window.dispatchEvent(new CustomEvent('fg-unauthorized'));
    throw new ApiFailure(res.status, body);
  }
  return body;
}

export const postJson = (path, body) => api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });

export const can = (action) => state.allowed.includes(action);

export const kg = (n, digits = 2) => (n === undefined || n === null ? '—' : Number(n).toFixed(digits));

/** Replaces a table body's rows. */
export function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}
