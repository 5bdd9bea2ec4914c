// Post tiles and the station banner, live from GET /api/live (Server-Sent Events).
// A tile is read from two metres on a post's touch panel: the weight in large
// digits, the state as a colour, a refusal or trip reason in Chinese and English.
import { state, T, pick, h, api, postJson, kg, can, ApiFailure } from './core.js';

const tiles = new Map();
const STEADY_NEEDED = new Set(['identified', 'verified', 'cylinderReady', 'settling']);
let banner = null;
let source = null;

/** `?post=P1` shows one post only: the touch panel at that post. */
const onlyPost = () => new URLSearchParams(location.search).get('post');

function tileNode(t) {
  const reasons = t.reasons.map((r) =>
    h('div', { class: 'reason', 'data-code': r.code }, h('p', { class: 'reason-zh', lang: 'zh' }, r.zh), h('p', { class: 'reason-en', lang: 'en' }, r.en), r.detail ? h('p', { class: 'reason-detail' }, r.detail) : null),
  );
  const phaseText = t.outcome && ['idle', 'closedOut', 'aborted'].includes(t.phase) ? T(`outcome.${t.outcome}`) : T(`phase.${t.phase}`);
  const weight = t.grossKg === undefined ? T('tile.noScale') : kg(t.grossKg);
  // How old the weight is and how the scale is: a stale weight or an offline scale greys the digits out.
  const scaleBad = t.scaleHealth && t.scaleHealth !== 'online';
  const age = h(
    'p',
    { class: `weight-age${t.weightStale || scaleBad ? ' bad' : ''}` },
    t.grossKg === undefined ? null : t.weightAgeS === undefined ? T('tile.weightLive') : T('tile.weightAge', { s: t.weightAgeS }),
    t.scaleHealth ? h('span', { class: `scale-health health-${t.scaleHealth}` }, T('tile.scale', { state: T(`health.${t.scaleHealth}`) })) : null,
    scaleBad && t.scaleError ? h('small', { class: 'scale-error' }, t.scaleError) : null,
  );
  const fact = (key, value, cls) => h('div', { class: `fact ${cls ?? ''}` }, h('dt', {}, T(key)), h('dd', {}, value));
  return h(
    'article',
    { class: `tile state-${t.state}`, 'data-post': t.post, 'data-state': t.state, 'data-phase': t.phase },
    h('header', {}, h('span', { class: 'tile-post' }, t.post), h('span', { class: 'tile-phase' }, state.locked && t.state === 'locked' ? T('tile.locked') : phaseText)),
    h(
      'div',
      { class: `weight${t.weightStale ? ' stale' : ''}`, 'data-stale': String(!!t.weightStale) },
      h('span', { class: 'weight-num', 'data-gross': t.grossKg ?? '' }, weight),
      h('span', { class: 'weight-unit' }, T('tile.gross')),
      // Unsteady matters while the gateway waits for a steady reading; while filling it always is.
      t.stable === false && STEADY_NEEDED.has(t.phase) ? h('span', { class: 'unstable' }, T('tile.unstable')) : null,
    ),
    age,
    h(
      'dl',
      { class: 'facts-row' },
      fact('tile.code', [t.cylinderCode ?? '—', t.model ? h('small', {}, ` ${t.model}`) : null], 'code'),
      fact('tile.target', kg(t.targetKg), 'target'),
      fact('tile.filled', kg(t.filledKg), 'filled'),
      fact('tile.content', kg(t.contentKg), 'content'),
    ),
    reasons.length ? h('div', { class: 'reasons' }, reasons) : null,
    // Open exceptions (left unchecked, filled outside the system) stay until a supervisor closes them out.
    t.exceptions?.length
      ? h(
          'div',
          { class: 'exceptions', 'data-open': t.exceptions.length },
          t.exceptions.map((x) =>
            h(
              'div',
              { class: 'reason exception', 'data-code': x.code, 'data-id': x.id },
              h('p', { class: 'reason-zh', lang: 'zh' }, x.zh),
              h('p', { class: 'reason-en', lang: 'en' }, x.en),
              h('p', { class: 'reason-detail' }, `${x.cylinderCode ?? ''} ${x.detail ?? ''} ${x.raisedAt}`),
              can('closeException') ? h('button', { type: 'button', onclick: () => closeException(x.id) }, T('tile.closeException')) : null,
            ),
          ),
        )
      : null,
    t.fault && can('resetPost') ? h('button', { type: 'button', class: 'big-button', onclick: () => resetPost(t.post) }, T('tile.reset')) : null,
  );
}

function renderTile(t) {
  const only = onlyPost();
  if (only && t.post !== only) return;
  tiles.set(t.post, t);
  const grid = document.getElementById('tile-grid');
  grid.classList.toggle('single', !!only);
  const node = tileNode(t);
  const old = grid.querySelector(`[data-post="${CSS.escape(t.post)}"]`);
  if (old) old.replaceWith(node);
  else grid.append(node);
}

async function closeException(id) {
  const note = window.prompt(T('tile.closeExceptionNote'));
  if (!note) return;
  try {
    await postJson(`/api/exceptions/${id}/close`, { note });
  } catch (err) {
    if (!(err instanceof ApiFailure)) throw err;
    window.alert(err.text());
  }
}

async function resetPost(post) {
  try {
    await postJson(`/api/posts/${encodeURIComponent(post)}/reset`);
  } catch (err) {
    showBannerMessage(err instanceof ApiFailure ? err.text() : String(err), true);
  }
}

let messageTimer = null;

/** A message under the banner; a success fades after a few seconds, an error stays until the lock it was about is gone. */
function showBannerMessage(text, bad) {
  const el = document.getElementById('banner-message');
  el.textContent = text;
  el.className = bad ? 'error' : 'ok';
  clearTimeout(messageTimer);
  if (!text) return;
  document.getElementById('banner').hidden = false;
  if (!bad) messageTimer = setTimeout(() => showBannerMessage('', false) || (banner && renderBanner(banner)), 8000);
}

export function renderBanner(b) {
  banner = b;
  state.locked = b.locked;
  const leak = b.leak;
  const show = b.locked || (leak && leak.locked);
  const el = document.getElementById('banner');
  const message = document.getElementById('banner-message');
  // An error about a lock that is gone (e.g. "not allowed" after someone else reset it) goes with it.
  if (!show && message.classList.contains('error')) message.textContent = '';
  el.hidden = !show && !message.textContent;
  document.getElementById('banner-locks').replaceChildren(...b.locks.map((l) => h('li', { 'data-lock': l.lock }, h('span', { lang: 'zh' }, l.zh), ' / ', h('span', { lang: 'en' }, l.en), l.detail ? h('small', {}, ` (${l.detail})`) : null)));
  const conditions = leak?.locked ? leak.conditions : [];
  document.getElementById('banner-conditions').replaceChildren(...conditions.map((c) => h('li', {}, h('span', { lang: 'zh' }, c.zh), ' / ', h('span', { lang: 'en' }, c.en))));
  // Everyone sees the reset button; the gateway refuses it for any role but supervisor, and says so.
  document.getElementById('leak-reset').hidden = !(leak && leak.locked);
}

async function resetLeak() {
  showBannerMessage('', false);
  try {
    await postJson('/api/leak/reset');
    showBannerMessage(T('banner.resetDone'), false);
  } catch (err) {
    const conditions = err instanceof ApiFailure && err.body?.conditions ? err.body.conditions.map((c) => pick(c)).join('; ') : '';
    showBannerMessage(`${err instanceof ApiFailure ? err.text() : String(err)}${conditions ? ` — ${conditions}` : ''}`, true);
  }
}

/** Re-draws every tile and the banner in the current language (after a language switch). */
export function redrawTiles() {
  for (const t of tiles.values()) renderTile(t);
  if (banner) renderBanner(banner);
}

export async function startLive() {
  stopLive();
  document.getElementById('leak-reset').onclick = resetLeak;
  // First paint from one request, so the panel shows the posts before the stream opens.
  const first = await api('/api/posts');
  state.posts = first.posts.map((p) => p.post);
  document.getElementById('tile-grid').replaceChildren();
  tiles.clear();
  renderBanner(first.banner);
  for (const t of first.posts) renderTile(t);
  source = new EventSource('/api/live');
  const lost = document.getElementById('live-lost');
  source.addEventListener('open', () => (lost.hidden = true));
  source.addEventListener('post', (e) => renderTile(JSON.parse(e.data)));
  source.addEventListener('banner', (e) => renderBanner(JSON.parse(e.data)));
  source.addEventListener('expired', () => window.dispatchEvent(new CustomEvent('fg-unauthorized')));
  source.addEventListener('error', () => {
    lost.hidden = false;
    // A closed stream (e.g. 401 after the session ended) is not retried by the browser: check the session.
    if (source && source.readyState === EventSource.CLOSED) api('/api/session').then((s) => (s.user ? startLive() : window.dispatchEvent(new CustomEvent('fg-unauthorized'))), () => setTimeout(startLive, 3000));
  });
}

export const isLive = () => source !== null;

export function stopLive() {
  if (source) source.close();
  source = null;
}
