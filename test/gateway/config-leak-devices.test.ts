/**
 * The `leakDetectors` and `cutoffValves` sections (gateway/config/leak-devices.ts, leak-checks.ts):
 * a good section loads with its defaults, and each mistake is reported with its path: an
 * unknown bus, an id clashing with an MQTT device or another leak device, a cut-off coil that is
 * a fill valve's, an unknown preset or channel, a poll slower than the silence limit allows.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { validateConfig, parseConfig, type ConfigError } from '../../gateway/config/config.ts';
import { buildLeakDrivers } from '../../gateway/runtime/leak-devices.ts';
import { ManualClock } from '../../protocols/clock.ts';
import { decodeLeakChannel } from '../../devices/leak/detector.ts';
import { channelRegisters, leakDetectorMaps } from '../../devices/leak/presets.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';

const root = new URL('../..', import.meta.url).pathname;
const example = () => parseYaml(readFileSync(join(root, 'examples/gateway.yaml'), 'utf8'));
const detector = (over: Record<string, unknown> = {}) => ({ id: 'GD1', bus: 'relays', unit: 3, preset: 'igd-toc635', channels: [{ id: 'ld-P1', channel: 1, location: 'P1' }], ...over });
const cutoff = (over: Record<string, unknown> = {}) => ({ id: 'cv-main', bus: 'relays', unit: 1, coil: 6, feedback: { address: 6 }, ...over });

function errorsOf(raw: unknown): ConfigError[] {
  const r = validateConfig(raw);
  return r.ok ? [] : r.errors;
}
const at = (errors: ConfigError[], path: string) => errors.find((e) => e.path === path);

test('a detector controller and a cut-off valve load with their defaults', () => {
  const raw = { ...example(), leakDetectors: [detector()], cutoffValves: [cutoff()] };
  const r = validateConfig(raw);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const c = r.ok ? r.config : undefined;
  assert.equal(c!.leakDetectors[0]!.pollMs, 1000);
  assert.equal(c!.leakDetectors[0]!.level2Lel, 50);
  assert.equal(c!.cutoffValves[0]!.feedback, { kind: 'discrete', address: 6, closedWhen: true });
  assert.is(c!.cutoffValves[0]!.closePulseMs, undefined);
  // Absent sections are empty lists: nothing is built.
  const plain = validateConfig(example());
  assert.ok(plain.ok && plain.config.leakDetectors.length === 0 && plain.config.cutoffValves.length === 0);
});

test('an unknown bus, a clashing id, a fill valve coil, an unknown preset and channel are errors at their path', () => {
  const raw = example();
  raw.mqtt = { broker: { devices: [{ id: 'ld-P1', kind: 'leak-detector', passwordHash: 'scrypt$1024$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g' }] } };
  raw.leakDetectors = [
    detector({ bus: 'rs485' }),
    detector({ id: 'GD2', unit: 4, preset: 'no-such', channels: [{ id: 'ld-x' }] }),
    detector({ id: 'GD3', unit: 5, preset: 'generic', channels: [{ id: 'ld-y', channel: 40 }] }),
  ];
  raw.cutoffValves = [cutoff({ coil: 0 }), cutoff({ id: 'GD1', coil: 7, feedback: { address: 7 } })];
  const errors = errorsOf(raw);
  assert.match(at(errors, 'leakDetectors.0.bus')?.message ?? '', /bus "rs485" is not defined/);
  assert.match(at(errors, 'leakDetectors.0.channels.0.id')?.message ?? '', /ld-P1 is already used by mqtt\.broker\.devices\.0\.id/);
  assert.match(at(errors, 'leakDetectors.1.preset')?.message ?? '', /unknown leak detector preset "no-such"/);
  assert.match(at(errors, 'leakDetectors.2.channels.0.channel')?.message ?? '', /channel 40 is outside 1\.\.32 of preset generic/);
  assert.match(at(errors, 'cutoffValves.0.coil')?.message ?? '', /already posts\.0\.valve \(post P1\)/);
  assert.match(at(errors, 'cutoffValves.1.id')?.message ?? '', /GD1 is already used by leakDetectors\.0\.id/);
  // parseConfig gives the line of each.
  const text = readFileSync(join(root, 'examples/gateway.yaml'), 'utf8') + '\nleakDetectors:\n  - { id: GD1, bus: nowhere, unit: 3, channels: [{ id: ld-1 }] }\n';
  const p = parseConfig(text);
  assert.ok(!p.ok);
  const e = !p.ok ? p.errors.find((x) => x.path === 'leakDetectors.0.bus') : undefined;
  assert.ok(e?.line && e.line > 60, JSON.stringify(e));
});

test('a detector polled too slowly for leak.silentAfterMs is an error: one lost reply would lock the station', () => {
  const raw = { ...example(), leak: { silentAfterMs: 2000 }, leakDetectors: [detector({ pollMs: 1000 })] };
  assert.match(at(errorsOf(raw), 'leakDetectors.0.pollMs')?.hint ?? '', /pollMs ≤ 666/);
  assert.equal(errorsOf({ ...raw, leakDetectors: [detector({ pollMs: 600 })] }), []);
});

test('schema errors: a missing feedback, an unknown key, a channel list left empty', () => {
  const raw = { ...example(), leakDetectors: [detector({ channels: [], pollHz: 2 })], cutoffValves: [{ id: 'cv', bus: 'relays', unit: 1, coil: 6 }] };
  const errors = errorsOf(raw);
  assert.match(at(errors, 'cutoffValves.0.feedback')?.hint ?? '', /closed-position switch/);
  assert.match(at(errors, 'leakDetectors.0.channels')?.hint ?? '', /one entry per sensor/);
  assert.match(at(errors, 'leakDetectors.0.pollHz')?.hint ?? '', /pollMs/);
});

test('presets: the IGD map decodes −10..110 %LEL with its status bits; channel n is at base + n − 1', () => {
  const igd = leakDetectorMaps['igd-toc635']!;
  assert.equal(channelRegisters(igd, 2), { lelRegister: 1, statusRegister: 3001 });
  assert.equal(decodeLeakChannel(700, 0b0011, igd), { lel: 60, level: 2, fault: false });
  assert.equal(decodeLeakChannel(100, 0b1000, igd), { lel: 0, level: 0, fault: true });
  assert.equal(decodeLeakChannel(0, 0, igd), { lel: -10, level: 0, fault: false });
});

test('drivers are built from the config with the preset, per-channel overrides and noStatus', () => {
  const r = validateConfig({
    ...example(),
    leakDetectors: [detector({ channels: [{ id: 'a', channel: 2 }, { id: 'b', lelRegister: 40 }] }), detector({ id: 'GD2', unit: 4, preset: 'generic', noStatus: true, channels: [{ id: 'c', channel: 3 }] })],
    cutoffValves: [cutoff({ location: 'yard' })],
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const units: string[] = [];
  const unitOf = (bus: string, unit: number, name: string) => (units.push(`${bus}/${unit}/${name}`), {} as ModbusUnit);
  const d = buildLeakDrivers(r.ok ? r.config : (undefined as never), unitOf, new ManualClock());
  assert.equal(units, ['relays/3/GD1', 'relays/4/GD2', 'relays/1/cv-main']);
  assert.equal(d.channels.map((c) => c.id), ['a', 'b', 'c']);
  assert.equal(d.cutoffLocations, { 'cv-main': 'yard' });
  const opts = (i: number) => (d.detectors[i] as unknown as { o: { channels: unknown; registerType: string } }).o;
  assert.equal(opts(0).channels, [{ device: 'a', lelRegister: 1, statusRegister: 3001 }, { device: 'b', lelRegister: 40 }]);
  assert.is(opts(0).registerType, 'input');
  assert.equal(opts(1).channels, [{ device: 'c', lelRegister: 2 }]);
});

test.run();
