/**
 * Every gateway config in examples/ passes `fillgate config check` with no
 * warnings; docs/configuration.md's reference table is what the schema says;
 * `fillgate config schema` prints the JSON Schema.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile, configJsonSchema } from '../../gateway/config/config.ts';
import { renderConfigReference, extractReference } from '../../gateway/config/docs.ts';
import { verifyPassword } from '../../gateway/mqtt/password.ts';

const root = new URL('../..', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });

/** Gateway configs have a top-level station: section; simulator files (station*.yaml) do not. */
function gatewayExamples(): string[] {
  return readdirSync(join(root, 'examples'))
    .filter((f) => f.endsWith('.yaml'))
    .filter((f) => {
      const doc = parseYaml(readFileSync(join(root, 'examples', f), 'utf8')) as Record<string, unknown>;
      return typeof doc?.station === 'object';
    });
}

test('the example gateway configs are found (and the simulator files are not among them)', () => {
  const files = gatewayExamples();
  for (const f of ['small-station.yaml', 'carousel-24.yaml', 'mixed-station.yaml', 'gateway.yaml', 'gateway-pty.yaml']) assert.ok(files.includes(f), f);
  assert.not.ok(files.includes('station.yaml'));
});

test('every example gateway config is valid without warnings', () => {
  for (const f of gatewayExamples()) {
    const r = loadConfigFile(join(root, 'examples', f));
    assert.ok(r.ok, `${f}: ${JSON.stringify(r.ok ? [] : r.errors)}`);
    assert.equal(r.warnings, [], `${f} warnings`);
  }
});

test('the examples are what they say: one RTU line, 24 heads over Modbus TCP, a mixed station', () => {
  const load = (f: string) => {
    const r = loadConfigFile(join(root, 'examples', f));
    if (!r.ok) throw new Error(f);
    return r.config;
  };
  const small = load('small-station.yaml');
  assert.is(small.posts.length, 2);
  assert.equal(Object.values(small.buses).map((b) => b.url.split(':')[0]), ['modbus-rtu']);
  // Its gas detector controller and cut-off valve share the line with the relay module.
  assert.equal([small.leakDetectors[0]?.bus, small.cutoffValves[0]?.bus, small.cutoffValves[0]?.unit], ['rs485', 'rs485', small.posts[0]!.valve.unit]);
  const carousel = load('carousel-24.yaml');
  assert.is(carousel.posts.length, 24);
  assert.ok(Object.values(carousel.buses).every((b) => b.url.startsWith('modbus-tcp://')));
  assert.ok(new Set(carousel.posts.map((p) => p.valve.bus)).size >= 4, 'several relay modules');
  const mixed = load('mixed-station.yaml');
  const formats = mixed.posts.map((p) => (p.scale.kind === 'stream' ? p.scale.format : 'modbus'));
  assert.ok(formats.includes('toledo') && formats.includes('xk3190-a9') && formats.includes('modbus'));
  assert.ok(Object.values(mixed.buses).some((b) => b.url.startsWith('modbus-rtu-tcp://')));
  assert.ok(mixed.posts.some((p) => p.scale.kind === 'stream' && p.scale.link.startsWith('tcp://')));
});

test('fillgate config check: exit 0 on an example, 1 with located errors and hints on a broken copy', () => {
  const ok = cli('config', 'check', 'examples/small-station.yaml');
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, 'ok — station ST-XX-0101, 2 post(s)');
  const bad = cli('config', 'check', 'test/gateway/config-bad.fixture.yaml');
  assert.is(bad.status, 1);
  assert.match(bad.stderr, 'config-bad.fixture.yaml:7: posts.0.scale.preset: unknown scale preset "flintec"');
  assert.match(bad.stderr, 'hint: known presets:');
  assert.match(bad.stderr, 'warning: checkScale');
  assert.match(bad.stderr, /\d+ error\(s\), \d+ warning\(s\)/);
});

test('docs/configuration.md reference table matches the schema (regenerate: fillgate config docs --write)', () => {
  const md = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
  const inFile = extractReference(md);
  assert.ok(inFile, 'reference markers present');
  assert.fixture(inFile!, renderConfigReference(configJsonSchema()));
  // The table carries the defaults: spot-check a few against the schema's own numbers.
  assert.match(inFile!, /\| `buses.<name>.timeoutMs` \| number \| 300 \|/);
  assert.match(inFile!, /\| `posts\[\].scale \(kind: modbus\).pollHz` \| number \| 10 \| ≥ 1, ≤ 50 \|/);
  assert.match(inFile!, /\| `records.retentionDays` \| number \| 730 \|/);
});

test('fillgate config schema prints a JSON Schema that closes objects and carries defaults', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'config', 'schema'], { cwd: root, encoding: 'utf8' });
  const js = JSON.parse(out);
  assert.is(js.type, 'object');
  assert.is(js.additionalProperties, false);
  assert.equal(js.required.sort(), ['posts', 'station']);
  assert.is(js.properties.buses.additionalProperties.properties.timeoutMs.default, 300);
  assert.is(js.properties.posts.items.additionalProperties, false);
});

test('examples/gateway.yaml has a dashboard login per role, password "demo" as its comment says (issue 12 point 8)', async () => {
  const r = loadConfigFile(join(root, 'examples/gateway.yaml'));
  assert.ok(r.ok);
  const users = r.config.http.users;
  assert.equal(users.map((u) => u.role).sort(), ['integrator', 'operator', 'supervisor']);
  for (const u of users) assert.ok(await verifyPassword('demo', u.passwordHash), u.name);
  assert.match(readFileSync(join(root, 'examples/gateway.yaml'), 'utf8'), /fillgate mqtt hash-password/);
});

test.run();
