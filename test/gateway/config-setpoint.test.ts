/**
 * scale.setpointLimit (issue 9 point 7): on by default exactly where the preset has a setpoint
 * map, an error when forced on without one, and what `config check` prints per post.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { validateConfig } from '../../gateway/config/config.ts';
import { setpointLimitOf } from '../../gateway/config/checks.ts';
import { buildDevices } from '../../gateway/runtime/devices.ts';
import { systemClock } from '../../protocols/clock.ts';

const root = new URL('../..', import.meta.url).pathname;
const example = () => parseYaml(readFileSync(join(root, 'examples/gateway.yaml'), 'utf8'));

function withP1Scale(scale: Record<string, unknown>) {
  const raw = example();
  raw.posts[0].scale = { ...raw.posts[0].scale, ...scale };
  return raw;
}

test('default: on where the preset has a setpoint map, off elsewhere; false turns it off', () => {
  const on = validateConfig(withP1Scale({ preset: 'cas-ci600d' }));
  assert.ok(on.ok, JSON.stringify(!on.ok && on.errors));
  assert.equal(on.ok && setpointLimitOf(on.config.posts[0]!.scale).on, true);
  const off = validateConfig(example());
  assert.equal(off.ok && setpointLimitOf(off.config.posts[0]!.scale), { on: false, available: false, reason: 'preset flintec-ft112 has no setpoint map' });
  assert.equal(off.ok && setpointLimitOf(off.config.posts[1]!.scale).on, false, 'stream scale');
  const disabled = validateConfig(withP1Scale({ preset: 'cas-ci600d', setpointLimit: false }));
  assert.equal(disabled.ok && setpointLimitOf(disabled.config.posts[0]!.scale), { on: false, available: true, reason: 'turned off (scale.setpointLimit: false)' });
  const viaOverrides = validateConfig(withP1Scale({ preset: 'generic', overrides: { setpoint: { address: 4, type: 'int32' } } }));
  assert.equal(viaOverrides.ok && setpointLimitOf(viaOverrides.config.posts[0]!.scale).on, true);
});

test('setpointLimit: true without a setpoint map is an error that says why; on the check scale a warning', () => {
  const r = validateConfig(withP1Scale({ setpointLimit: true }));
  assert.is(r.ok, false);
  const e = !r.ok ? r.errors.find((x) => x.path === 'posts.0.scale.setpointLimit') : undefined;
  assert.ok(e, JSON.stringify(r));
  assert.match(e.message, /preset "flintec-ft112" has no setpoint map/);
  const raw = example();
  raw.checkScale.setpointLimit = true;
  const c = validateConfig(raw);
  assert.ok(c.ok);
  assert.ok(c.warnings.some((w) => w.path === 'checkScale.setpointLimit'), JSON.stringify(c.warnings));
});

test('the station builds the setpoint step only for posts where it is on', () => {
  const r = validateConfig(withP1Scale({ preset: 'cas-ci600d' }));
  assert.ok(r.ok);
  const d = buildDevices(r.config, systemClock);
  assert.ok(d.posts.get('P1')!.setpointLimit, 'P1 has it');
  assert.is(d.posts.get('P2')!.setpointLimit, undefined, 'P2 (stream scale) has not');
});

test('config check prints per post whether the setpoint limit is on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-sp-'));
  try {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, stringify(withP1Scale({ preset: 'cas-ci600d' })));
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'config', 'check', file], { encoding: 'utf8', cwd: root });
    assert.match(out, /P1: setpoint limit on \(preset cas-ci600d: indicator setpoint programmed and read back before every open\)/);
    assert.match(out, /P2: setpoint limit off \(stream scale/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
