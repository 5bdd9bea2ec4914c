// The records screen (filter by date, post, cylinder, outcome; CSV export) and the
// registry screen (search cylinders and operators; import a file, with the
// row-by-row report). Every word from the catalogue.
import { state, T, pick, h, api, kg, can, fillRows, ApiFailure } from './core.js';

const OUTCOMES = ['filled', 'underfilled', 'overfilled', 'filled_unchecked', 'unauthorised_fill', 'refused', 'tripped', 'aborted', 'interrupted'];

function options(select, values, labelOf) {
  const keep = select.value;
  select.replaceChildren(h('option', { value: '' }, T('records.any')), ...values.map((v) => h('option', { value: v }, labelOf(v))));
  select.value = keep;
}

function recordQuery() {
  const form = document.getElementById('records-form');
  const q = new URLSearchParams();
  for (const name of ['from', 'to', 'post', 'cylinder', 'outcome']) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  return q;
}

export async function showRecords() {
  options(document.getElementById('records-post'), state.posts, (p) => p);
  options(document.getElementById('records-outcome'), OUTCOMES, (o) => T(`outcome.${o}`));
  const form = document.getElementById('records-form');
  form.onsubmit = (e) => {
    e.preventDefault();
    loadRecords();
  };
  await loadRecords();
}

async function loadRecords() {
  const q = recordQuery();
  const exportLink = document.getElementById('records-export');
  exportLink.href = `/api/records.csv?${q}`;
  exportLink.hidden = !can('exportRecords');
  const count = document.getElementById('records-count');
  try {
    const r = await api(`/api/records?${q}`);
    count.textContent = T('records.count', { n: r.total }) + (r.total > r.records.length ? ` — ${T('records.more', { n: r.records.length })}` : '');
    count.className = '';
    const rows = r.records.map((x) =>
      h(
        'tr',
        { class: `outcome-${x.outcome}`, 'data-seq': x.seq },
        h('td', {}, x.seq),
        h('td', {}, x.recordedAt.replace('T', ' ').slice(0, 19)),
        h('td', {}, x.post),
        h('td', { class: 'mono' }, x.cylinderCode ?? '—'),
        h('td', { class: 'outcome' }, T(`outcome.${x.outcome}`)),
        h('td', {}, x.filler ? x.filler.name ?? x.filler.badge : '—'),
        h('td', { class: 'num' }, kg(x.netKg, 3)),
        h('td', {}, x.reasons.map((re) => h('div', { title: re.code }, pick(re)))),
      ),
    );
    fillRows(document.querySelector('#records-table tbody'), rows);
  } catch (err) {
    count.textContent = err instanceof ApiFailure ? err.text() : String(err);
    count.className = 'error';
  }
}

const CYLINDER_COLUMNS = [
  ['col.code', (c) => h('span', { class: 'mono' }, c.code)],
  ['col.model', (c) => c.model],
  ['col.owner', (c) => c.ownerUnit],
  ['col.status', (c) => T(`cylinder.${c.status}`)],
  ['col.nextInspection', (c) => c.nextInspectionDue ?? '—'],
  // Issue 10 point 7: the fields the standards require, and what keeps a cylinder from the post.
  ['col.valvePhase', (c) => (c.valvePhase ? T(`valvePhase.${c.valvePhase}`) : '—')],
  ['col.useRegistration', (c) => c.useRegistrationNo ?? '—'],
  ['col.maker', (c) => c.maker ?? '—'],
  ['col.eId', (c) => (c.eId ? h('span', { class: 'mono' }, c.eId) : '—')],
  ['col.flags', (c) => [c.purgeRequired ? T('cylinder.purgeRequired') : '', c.refillable === false ? T('cylinder.nonRefillable') : ''].filter(Boolean).join(', ') || '—'],
  ['col.fills', (c) => c.fillCount],
];
const OPERATOR_COLUMNS = [
  ['col.badge', (o) => h('span', { class: 'mono' }, o.badge)],
  ['col.name', (o) => o.name],
  ['col.roles', (o) => o.roles.map((r) => T(`opRole.${r}`)).join(', ')],
  ['col.certificate', (o) => o.certificateNo ?? '—'],
  ['col.expires', (o) => o.certificateExpires ?? '—'],
];

export async function showRegistry() {
  const form = document.getElementById('registry-search');
  form.onsubmit = (e) => {
    e.preventDefault();
    searchRegistry();
  };
  form.elements.what.onchange = searchRegistry;
  const imp = document.getElementById('import-form');
  imp.hidden = !can('importRegistry');
  // The import report is for those who import; an operator never sees it, nor an empty table.
  const report = document.getElementById('import-report');
  report.hidden = !can('importRegistry') || !report.dataset.shown;
  imp.onsubmit = (e) => {
    e.preventDefault();
    importFile();
  };
  await searchRegistry();
}

async function searchRegistry() {
  const form = document.getElementById('registry-search');
  const what = form.elements.what.value;
  const search = form.elements.search.value.trim();
  const cols = what === 'cylinders' ? CYLINDER_COLUMNS : OPERATOR_COLUMNS;
  const table = document.getElementById('registry-table');
  table.tHead.replaceChildren(h('tr', {}, cols.map(([key]) => h('th', {}, T(key)))));
  try {
    const r = await api(`/api/registry/${what}?${new URLSearchParams(search ? { search } : {})}`);
    const list = what === 'cylinders' ? r.cylinders : r.operators;
    fillRows(table.tBodies[0], list.map((item) => h('tr', {}, cols.map(([, cell]) => h('td', {}, cell(item))))));
  } catch (err) {
    fillRows(table.tBodies[0], [h('tr', {}, h('td', { class: 'error', colSpan: cols.length }, err instanceof ApiFailure ? err.text() : String(err)))]);
  }
}

async function importFile() {
  const form = document.getElementById('import-form');
  const summary = document.getElementById('import-summary');
  const file = form.elements.file.files[0];
  summary.className = '';
  const report = document.getElementById('import-report');
  if (!file) {
    report.hidden = false;
    document.getElementById('import-issues').hidden = true;
    summary.textContent = T('registry.noFile');
    summary.className = 'error';
    return;
  }
  const q = new URLSearchParams({
    what: form.elements.what.value,
    format: /\.json$/i.test(file.name) ? 'json' : 'csv',
    mode: form.elements.mode.value,
    dryRun: form.elements.dryRun.checked ? '1' : '0',
    file: file.name,
  });
  try {
    const { report } = await api(`/api/registry/import?${q}`, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: await file.text() });
    showReport(report);
    if (report.applied) searchRegistry();
  } catch (err) {
    report.hidden = false;
    document.getElementById('import-issues').hidden = true;
    summary.textContent = err instanceof ApiFailure ? err.text() : String(err);
    summary.className = 'error';
  }
}

function showReport(r) {
  const summary = document.getElementById('import-summary');
  const result = r.applied ? T('registry.applied', r) : T('registry.notApplied');
  summary.textContent = `${T('registry.report', r)} — ${result}`;
  summary.className = r.applied ? 'ok' : 'error';
  summary.dataset.applied = String(r.applied);
  const rows = r.issues.map((i) =>
    h('tr', { class: `sev-${i.severity}` }, h('td', {}, i.row === 0 ? '—' : i.row), h('td', { class: 'mono' }, i.key ?? ''), h('td', {}, i.field ?? ''), h('td', {}, T(`severity.${i.severity}`)), h('td', {}, i.message)),
  );
  fillRows(document.querySelector('#import-issues tbody'), rows);
  document.getElementById('import-issues').hidden = rows.length === 0;
  const report = document.getElementById('import-report');
  report.dataset.shown = '1';
  report.hidden = !can('importRegistry');
}
