// The status screen: station locks, devices and their health, the upload backlog
// and the age of the oldest unacknowledged record, the MQTT relay.
import { T, h, api, fillRows, ApiFailure } from './core.js';

const secs = (ms) => T('status.seconds', { n: Math.round((ms ?? 0) / 1000) });

function facts(el, pairs) {
  el.replaceChildren(...pairs.flatMap(([key, value, attrs]) => [h('dt', {}, T(key)), h('dd', attrs ?? {}, value)]));
}

export async function showStatus() {
  let s;
  try {
    s = await api('/api/status');
  } catch (err) {
    document.getElementById('status-locks').replaceChildren(h('li', { class: 'error' }, err instanceof ApiFailure ? err.text() : String(err)));
    return;
  }
  const locks = s.locks.map((l) => h('li', { class: 'error', 'data-lock': l.lock }, T(`banner.lock.${l.lock}`), l.detail ? h('small', {}, ` (${l.detail})`) : null));
  document.getElementById('status-locks').replaceChildren(...(locks.length ? locks : [h('li', { class: 'ok' }, T('status.noLocks'))]));
  fillRows(
    document.querySelector('#status-devices tbody'),
    s.devices.map((d) =>
      h('tr', { class: `health-${d.state}`, 'data-device': d.device }, h('td', { class: 'mono' }, d.device), h('td', { class: 'health' }, T(`health.${d.state}`)), h('td', { class: 'num' }, d.rttMs === undefined ? '—' : d.rttMs.toFixed(1)), h('td', { class: 'num' }, `${d.failures}/${d.requests}`), h('td', {}, d.lastError ?? '')),
    ),
  );
  const up = s.upload;
  facts(document.getElementById('status-upload'), [
    ['status.total', s.records.total],
    ['status.pending', s.records.pending, { 'data-pending': s.records.pending }],
    up ? ['status.oldest', secs(up.timeliness.oldestUnackedAgeMs), { class: `timeliness-${up.timeliness.state}` }] : ['status.upload', T('status.uploadOff')],
  ]);
  const m = s.mqtt;
  const relay = m?.relay;
  facts(
    document.getElementById('status-mqtt'),
    m
      ? [
          ['status.connectedDevices', m.connected.length ? m.connected.join(', ') : '—'],
          ['status.relay', relay ? T(relay.connected ? 'status.connected' : 'status.disconnected') : T('status.relayOff'), { class: relay ? (relay.connected ? 'ok' : 'error') : '' }],
          ...(relay ? [['status.backlog', `${relay.backlog.count} (${secs(relay.backlog.oldestAgeMs)})`], ['status.lastError', relay.lastError ?? '—']] : []),
        ]
      : [['status.mqtt', T('status.mqttOff')]],
  );
}
