import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startSimulator, runCommand, type Simulator } from '../../sim/index.ts';
import { ByteSink, eventually, portOf, testStation } from './helpers.ts';

let sim: Simulator;
let reader: ByteSink;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${sim.controlUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

test.before(async () => {
  sim = await startSimulator(testStation(), { portsFromZero: true });
  reader = await ByteSink.connect(portOf(sim.endpoints()['P1.reader']!));
  await eventually(() => sim.parts.readers.get('P1')!.endpoint.peerCount() > 0, 3000, 'reader client');
});
test.after(async () => {
  reader.close();
  await sim.close();
});

test('control URL is loopback HTTP; GET /state lists posts, check scale, faults', async () => {
  assert.match(sim.controlUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  const { status, json } = await call('GET', '/state');
  assert.is(status, 200);
  assert.equal(json.posts.map((p: any) => p.id), ['P1', 'P2']);
  assert.is(json.posts[0].cylinder, null);
  assert.is(json.check.cylinder, null);
  assert.equal(json.faults, []);
  const e = await call('GET', '/endpoints');
  assert.is(e.json.endpoints['P1.scale'], sim.endpoints()['P1.scale']);
});

test('place, scan, badge, press, to-check, check/remove, remove over HTTP', async () => {
  let r = await call('POST', '/posts/P1/place', { code: 'CYL1' });
  assert.is(r.status, 200);
  assert.is(r.json.cylinder.grossKg, 17.1);
  r = await call('GET', '/state');
  assert.is(r.json.posts[0].cylinder.code, 'CYL1');

  r = await call('POST', '/posts/P1/scan', {});
  assert.is(r.json.delivered, true);
  r = await call('POST', '/posts/P1/badge', { badge: 'B1001' });
  await eventually(() => reader.bytes.toString().split('\r\n').length >= 3, 3000, 'two lines');
  assert.is(reader.take().toString(), 'CYL1\r\nB1001\r\n');

  r = await call('POST', '/posts/P1/press', { button: 'stop' });
  assert.is(r.status, 200);
  assert.is((await call('GET', '/state')).json.posts[0].buttons.stop, true);

  r = await call('POST', '/posts/P1/to-check');
  assert.is(r.json.cylinder.code, 'CYL1');
  r = await call('GET', '/state');
  assert.is(r.json.posts[0].cylinder, null);
  assert.is(r.json.check.cylinder.code, 'CYL1');
  await eventually(async () => (await call('GET', '/state')).json.check.scale.grossKg === 17.1, 3000, 'check scale shows it');

  r = await call('POST', '/check/remove');
  assert.is(r.json.cylinder.code, 'CYL1');
  r = await call('POST', '/posts/P1/place', { code: 'CYL1' }); // back from stock, same gas
  assert.is(r.json.cylinder.gasKg, 0.6);
  r = await call('POST', '/posts/P1/remove');
  assert.is(r.json.cylinder.code, 'CYL1');
});

test('ad-hoc cylinders need a tare; conflicts and unknowns get 404/409/400 with a message', async () => {
  let r = await call('POST', '/posts/P1/place', { code: 'NOPE' });
  assert.is(r.status, 404);
  assert.match(r.json.error, /unknown cylinder 'NOPE'/);
  r = await call('POST', '/posts/P1/place', { code: 'NOPE', tareKg: 6.5, residualKg: 0.3 });
  assert.is(r.status, 200);
  assert.is(r.json.cylinder.grossKg, 6.8);
  r = await call('POST', '/posts/P2/place', { code: 'NOPE' });
  assert.is(r.status, 409);
  r = await call('POST', '/posts/P1/place', { code: 'CYL2' });
  assert.is(r.status, 409);
  assert.match(r.json.error, /already has cylinder NOPE/);
  r = await call('POST', '/posts/P9/remove');
  assert.is(r.status, 404);
  r = await call('POST', '/posts/P1/press', { button: 'middle' });
  assert.is(r.status, 400);
  r = await call('POST', '/posts/P1/place', '{not json');
  assert.is(r.status, 400);
  r = await call('GET', '/nowhere');
  assert.is(r.status, 404);
  r = await call('PUT', '/state');
  assert.is(r.status, 405);
  await call('POST', '/posts/P1/remove');
});

test('faults over HTTP: set, list, refuse bad ones, clear one device or all', async () => {
  let r = await call('POST', '/faults', { device: 'P1.scale', kind: 'late', ms: 50 });
  assert.is(r.status, 200);
  assert.equal(r.json.fault, { device: 'P1.scale', kind: 'late', ms: 50 });
  await call('POST', '/faults', { device: 'P1.valve', kind: 'slow-valve' });
  r = await call('GET', '/state');
  assert.is(r.json.faults.length, 2);
  assert.is(r.json.posts[0].valve.closeDelayMs, 1500);
  r = await call('POST', '/faults', { device: 'P1.scale', kind: 'stuck-open' });
  assert.is(r.status, 400);
  r = await call('DELETE', '/faults?device=P1.valve');
  assert.equal(r.json.faults, [{ device: 'P1.scale', kind: 'late', ms: 50 }]);
  assert.is((await call('GET', '/state')).json.posts[0].valve.closeDelayMs, 100);
  r = await call('DELETE', '/faults');
  assert.equal(r.json.faults, []);
});

test('the stdin console takes the same verbs and never throws', () => {
  assert.match(runCommand(sim, 'place P2 CYL2'), /"grossKg": 14.2/);
  assert.match(runCommand(sim, 'fault P2.scale late ms=20'), /"ms": 20/);
  assert.is(sim.faults.list('P2.scale').length, 1);
  assert.is(runCommand(sim, 'clear'), 'cleared');
  assert.match(runCommand(sim, 'place P2 CYL1'), /^error: post P2 already has/);
  assert.match(runCommand(sim, 'frobnicate'), /unknown command/);
  assert.match(runCommand(sim, 'help'), /commands:/);
  assert.match(runCommand(sim, 'remove P2'), /CYL2/);
  assert.is(runCommand(sim, ''), '');
});

test.run();
