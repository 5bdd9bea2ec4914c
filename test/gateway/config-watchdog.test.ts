/**
 * Issue 13 point 3: the relay module's own watchdog sized from the physics. If the gateway dies
 * mid-fill, the module keeps the valve open for its watchdog time at up to the post's maximum
 * flow; `config check` warns when that mass exceeds the margin between target and allowed mass
 * of the smallest cylinder model (YSP4.7: 1.90 / 2.00 kg) and says which watchdog time fits.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { validateConfig } from '../../gateway/config/config.ts';
import { watchdogFit } from '../../gateway/config/checks.ts';

const root = new URL('../..', import.meta.url).pathname;
const example = () => parseYaml(readFileSync(join(root, 'examples/gateway.yaml'), 'utf8'));

function withP1(valve: Record<string, unknown>, fill?: Record<string, unknown>, stationFill?: Record<string, unknown>) {
  const raw = example();
  raw.posts[0].valve = { ...raw.posts[0].valve, ...valve };
  if (fill) raw.posts[0].fill = fill;
  if (stationFill) raw.fill = { ...raw.fill, ...stationFill };
  return raw;
}

const watchdogWarnings = (raw: unknown) => {
  const r = validateConfig(raw);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.warnings.filter((w) => /relayWatchdogMs|keepAliveMs/.test(w.path));
};

test('the fit: 0.10 kg margin of a YSP4.7 at 30 kg/min (0.5 kg/s) is 200 ms; at 10 kg/min 600 ms', () => {
  const f = watchdogFit({ relayWatchdogMs: 2000 }, 30);
  assert.equal([f.model, f.allowedKg, Number(f.targetKg.toFixed(2)), Number(f.marginKg.toFixed(2)), f.fitsMs, f.ok], ['YSP4.7', 2, 1.9, 0.1, 200, false]);
  assert.is(Number(f.inFlightKg!.toFixed(3)), 1);
  assert.is(watchdogFit({ relayWatchdogMs: 600 }, 10).ok, true);
  assert.is(watchdogFit({ relayWatchdogMs: 601 }, 10).ok, false);
  assert.is(watchdogFit({}, 10).fitsMs, 600);
});

test('config check warns when watchdog × maximum flow exceeds the margin, and names the watchdog time that fits', () => {
  const w = watchdogWarnings(withP1({ relayWatchdogMs: 2000, keepAliveMs: 500 }));
  assert.is(w.length, 1, JSON.stringify(w));
  assert.is(w[0]!.path, 'posts.0.valve.relayWatchdogMs');
  assert.match(w[0]!.message, /relay watchdog 2000 ms at up to 30 kg\/min lets 1\.00 kg more/);
  assert.match(w[0]!.message, /YSP4\.7\) has 0\.10 kg between target \(1\.90 kg\) and allowed mass \(2\.00 kg\)/);
  assert.match(w[0]!.hint ?? '', /≤ 200 ms/);
});

test('a watchdog that fits is quiet; the flow comes from the post, else the station fill:, else 30 kg/min', () => {
  assert.equal(watchdogWarnings(withP1({ relayWatchdogMs: 200, keepAliveMs: 60 })), []);
  assert.equal(watchdogWarnings(withP1({ relayWatchdogMs: 500, keepAliveMs: 150 }, { maxFlowKgPerMin: 10 })), []);
  assert.equal(watchdogWarnings(withP1({ relayWatchdogMs: 500, keepAliveMs: 150 }, undefined, { maxFlowKgPerMin: 12 })), []);
  const w = watchdogWarnings(withP1({ relayWatchdogMs: 500, keepAliveMs: 150 }, undefined, { maxFlowKgPerMin: 20 }));
  assert.is(w.length, 1);
  assert.match(w[0]!.hint ?? '', /≤ 300 ms/);
  // No watchdog time given: nothing to size, no warning (the examples stay warning-free).
  assert.equal(watchdogWarnings(example()), []);
});

test('keepAliveMs above a third of the relay watchdog is a warning (a late keep-alive drops the valve mid-fill)', () => {
  const w = watchdogWarnings(withP1({ relayWatchdogMs: 150, keepAliveMs: 100 }));
  assert.equal(w.map((x) => x.path), ['posts.0.valve.keepAliveMs']);
  assert.match(w[0]!.hint ?? '', /keepAliveMs ≤ 50/);
});

test('fillgate config check prints, per post, what the relay watchdog lets through and what would fit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fillgate-wd-'));
  try {
    const file = join(dir, 'gw.yaml');
    const raw = withP1({ relayWatchdogMs: 2000, keepAliveMs: 500 });
    raw.dataDir = dir;
    writeFileSync(file, stringify(raw));
    let out = '';
    try {
      out = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'gateway/cli/main.ts'), 'config', 'check', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? '');
    }
    assert.match(out, /P1: relay watchdog 2000 ms × 30 kg\/min = 1\.00 kg more if the gateway dies; margin 0\.10 kg \(YSP4\.7: target 1\.90 kg, allowed 2\.00 kg\): too long, ≤ 200 ms would fit/);
    assert.match(out, /P2: relay watchdog time not given \(valve\.relayWatchdogMs\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
