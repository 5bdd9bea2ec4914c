// The dashboard's entry: loads the catalogue and the session, shows the login form
// or the screen named by the URL hash (#/tiles, #/records, #/registry, #/status),
// and switches the language of this screen.
import { state, T, applyI18n, setLang, savedLang, api, postJson, ApiFailure } from './core.js';
import { startLive, stopLive, redrawTiles, isLive } from './tiles.js';
import { showRecords, showRegistry } from './pages.js';
import { showStatus } from './status.js';

const VIEWS = ['login', 'tiles', 'records', 'registry', 'status'];
const show = { tiles: () => undefined, records: showRecords, registry: showRegistry, status: showStatus };

function setView(name) {
  for (const v of VIEWS) document.getElementById(`view-${v}`).hidden = v !== name;
  document.getElementById('top').hidden = name === 'login';
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === name);
  if (name === 'login') {
    document.getElementById('banner').hidden = true;
    document.getElementById('live-lost').hidden = true;
  }
}

function currentRoute() {
  const name = location.hash.replace(/^#\//, '');
  return show[name] ? name : 'tiles';
}

async function route() {
  if (!state.session) return setView('login');
  const name = currentRoute();
  setView(name);
  try {
    // The tiles' stream stays open on every screen: the banner (leak, locks) must show everywhere.
    if (!isLive()) await startLive();
    await show[name]();
  } catch (err) {
    if (!(err instanceof ApiFailure && err.status === 401)) console.error(err);
  }
}

async function loadSession() {
  const s = await api('/api/session');
  state.session = s.user;
  state.allowed = s.allowed;
  document.getElementById('login-nousers').hidden = s.usersConfigured;
  document.getElementById('station-name').textContent = s.station?.name ?? s.station?.code ?? '';
  document.getElementById('who').textContent = s.user ? `${s.user.name} · ${T(`role.${s.user.role}`)}` : '';
  return s;
}

async function login(e) {
  e.preventDefault();
  const form = e.target;
  const error = document.getElementById('login-error');
  error.textContent = '';
  try {
    await postJson('/api/login', { name: form.elements.name.value, password: form.elements.password.value });
    form.elements.password.value = '';
    await loadSession();
    if (!location.hash) location.hash = '#/tiles';
    await route();
  } catch (err) {
    error.textContent = err instanceof ApiFailure ? err.text() : String(err);
  }
}

async function logout() {
  stopLive();
  await postJson('/api/logout').catch(() => undefined);
  state.session = null;
  setView('login');
}

function switchLang() {
  setLang(state.lang === 'zh' ? 'en' : 'zh');
  applyI18n();
  if (state.session) {
    document.getElementById('who').textContent = `${state.session.name} · ${T(`role.${state.session.role}`)}`;
    redrawTiles();
    const name = currentRoute();
    if (name !== 'tiles') show[name]();
  }
}

async function main() {
  const i18n = await api('/api/i18n');
  state.catalog = i18n.catalog;
  const s = await loadSession();
  setLang(savedLang() ?? s.lang ?? i18n.defaultLang);
  applyI18n();
  if (s.user) document.getElementById('who').textContent = `${s.user.name} · ${T(`role.${s.user.role}`)}`;
  document.getElementById('login-form').addEventListener('submit', login);
  document.getElementById('logout').addEventListener('click', logout);
  for (const b of [document.getElementById('lang-switch'), ...document.querySelectorAll('[data-lang-switch]')]) b.addEventListener('click', switchLang);
  window.addEventListener('hashchange', route);
  window.addEventListener('fg-unauthorized', () => {
    stopLive();
    state.session = null;
    setView('login');
  });
  await route();
  document.body.dataset.ready = 'true';
}

main().catch((err) => {
  document.body.textContent = String(err);
});
