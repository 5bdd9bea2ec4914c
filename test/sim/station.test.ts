import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStation, validateStation } from '../../sim/station.ts';
import { testStation } from './helpers.ts';

const root = new URL('../..', import.meta.url).pathname;

test('the example stations load with defaults filled in', () => {
  const s = loadStation(join(root, 'examples/station.yaml'));
  assert.is(s.posts.length, 2);
  assert.is(s.posts[0]!.scale.protocol, 'modbus');
  assert.is(s.posts[1]!.scale.protocol, 'xk3190-a9');
  assert.is(s.posts[0]!.reader.suffix, '\r\n');
  assert.ok(s.cylinders.length >= 10);
  assert.is(s.badges.length, 4);
  assert.ok(s.checkScale);
  for (const c of s.cylinders) assert.ok(c.tareKg > 3 && c.tareKg < 50, c.code);
  const pty = loadStation(join(root, 'examples/station-pty.yaml'));
  assert.is(pty.buses.rs485!.transport, 'rtu-pty');
  assert.is(pty.buses.rs485!.baud, 19200);
});

test('JSON files load too; an unreadable or malformed file says so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fillgate-station-'));
  try {
    const json = join(dir, 's.json');
    writeFileSync(json, JSON.stringify(testStation()));
    assert.is(loadStation(json).posts.length, 2);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'posts: [\n');
    assert.throws(() => loadStation(bad), /not valid YAML/);
    assert.throws(() => loadStation(join(dir, 'missing.yaml')), /cannot read station file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors name their path', () => {
  const s = testStation() as any;
  s.posts[0].scale.divisionKg = -1;
  s.posts[1].valve.coil = 'one';
  s.posts[1].scale.protocol = 'mystery';
  delete s.cylinders[0].tareKg;
  const errors = validateStation(s);
  assert.ok(errors.some((e) => e.startsWith('posts.0.scale.divisionKg:')), errors.join('\n'));
  assert.ok(errors.some((e) => e.startsWith('posts.1.valve.coil:')), errors.join('\n'));
  assert.ok(errors.some((e) => e.startsWith('posts.1.scale.protocol:')), errors.join('\n'));
  assert.ok(errors.some((e) => e.startsWith('cylinders.0.tareKg:')), errors.join('\n'));
  assert.throws(() => loadStation(s), (err: any) => err.code === 'BAD_CONFIG' && err.context.errors.length === errors.length);
});

test('cross-references: unknown bus, shared unit ids, coils, inputs, ports, duplicate codes and posts', () => {
  const s = testStation() as any;
  s.posts[0].valve.bus = 'nope';
  s.checkScale = { protocol: 'modbus', bus: 'mb', unitId: 2, registerMap: 'rinstrum-c500' }; // relay module's unit id
  s.cylinders.push({ code: 'CYL1', tareKg: 1 });
  s.posts.push({ ...s.posts[1], id: 'P1', valve: { ...s.posts[1].valve, coil: 1 } });
  s.control = { port: 15999 };
  s.posts[1].reader.port = 15999;
  const errors = validateStation(s).join('\n');
  assert.match(errors, /posts\.0\.valve\.bus: unknown bus 'nope'/);
  assert.match(errors, /relay module mb#2 is also a scale/);
  assert.match(errors, /cylinders\.2\.code: cylinder code CYL1 already used/);
  assert.match(errors, /posts\.2\.id: post id P1 already used/);
  assert.match(errors, /posts\.2\.valve\.coil: coil 1 of unit 2 already used/);
  assert.match(errors, /posts\.1\.reader\.port: port 15999 already used by control\.port/);
});

test('unknown keys are refused (typos do not pass silently)', () => {
  const s = testStation() as any;
  s.posts[0].valve.closeDelayMS = 100;
  assert.match(validateStation(s).join('\n'), /posts\.0\.valve: Unrecognized key/);
});

test.run();
