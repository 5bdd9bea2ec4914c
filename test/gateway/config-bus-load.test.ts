/**
 * Issue 14 point 3: config check warns, with the bus's path, when the configured polling cannot
 * fit the bus: an RTU line by bits per frame at its baud rate plus the inter-frame gap, a Modbus
 * TCP link by its (assumed) round trip times maxInFlight. Feedback reads and keep-alives count
 * as the relay module shares them. maxInFlight > 1 off Modbus TCP is an error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { validateConfig } from '../../gateway/config/config.ts';
import { busDemand } from '../../gateway/config/bus-load.ts';

const root = new URL('../..', import.meta.url).pathname;

/** The example's first post copied to `n` posts on one bus, scales and valves on `url`. */
function station(n: number, url: string, bus: Record<string, unknown> = {}, valve: Record<string, unknown> = {}) {
  const raw = parseYaml(readFileSync(join(root, 'examples/gateway.yaml'), 'utf8'));
  const p0 = raw.posts[0];
  raw.buses = { line: { url, ...bus } };
  raw.posts = Array.from({ length: n }, (_, i) => ({
    ...p0,
    id: `P${i + 1}`,
    scale: { kind: 'modbus', bus: 'line', unit: i + 1, preset: 'flintec-ft112', pollHz: 10 },
    reader: { link: `tcp://127.0.0.1:${16000 + i}` },
    valve: { bus: 'line', unit: 200, coil: i, feedback: { kind: 'discrete', address: i, closedWhen: true }, keepAliveMs: 300, ...valve },
    startInput: undefined,
    stopInput: undefined,
  }));
  delete raw.checkScale;
  delete raw.checkReader;
  return raw;
}

const busWarnings = (raw: unknown) => {
  const r = validateConfig(raw);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  return r.warnings.filter((w) => w.path.startsWith('buses'));
};

test('demand counts feedback and keep-alives per module when shared, per valve when not', () => {
  const shared = busDemand(station(32, 'modbus-tcp://10.0.0.9:502', { relayModules: [{ unit: 200, writeMultipleCoils: true }] })).get('line')!;
  assert.equal([shared.scales, shared.feedback, Math.round(shared.keepAlive * 10) / 10], [320, 5, 3.3]);
  const perValve = busDemand(station(32, 'modbus-tcp://10.0.0.9:502', { relayModules: [{ unit: 200, batchFeedback: false }] })).get('line')!;
  assert.equal([perValve.feedback, Math.round(perValve.keepAlive)], [160, 107]);
});

test('Modbus TCP: 32 posts at 10 Hz do not fit a 5 ms round trip one at a time; they fit 4 in flight', () => {
  const w = busWarnings(station(32, 'modbus-tcp://10.0.0.9:502', { relayModules: [{ unit: 200, writeMultipleCoils: true }] }));
  assert.is(w.length, 1, JSON.stringify(w));
  assert.is(w[0]!.path, 'buses.line');
  assert.match(w[0]!.message, /need about 328 exchanges\/s \(320 scale polls, 0 input polls, 5 feedback reads, 3\.3 keep-alives\)/);
  assert.match(w[0]!.message, /assumed 5 ms round trip carries about 200/);
  assert.match(w[0]!.hint ?? '', /maxInFlight/);
  assert.equal(busWarnings(station(32, 'modbus-tcp://10.0.0.9:502', { maxInFlight: 4, relayModules: [{ unit: 200, writeMultipleCoils: true }] })), []);
  assert.equal(busWarnings(station(32, 'modbus-tcp://10.0.0.9:502', { assumedRttMs: 1 })), [], 'a measured 1 ms round trip carries it');
});

test('RTU: bits per frame at the baud rate plus the gap; 8 posts fit 115200 baud, not 9600', () => {
  const slow = busWarnings(station(8, 'modbus-rtu:///dev/ttyUSB0?baud=9600'));
  assert.is(slow.length, 1, JSON.stringify(slow));
  assert.is(slow[0]!.path, 'buses.line');
  assert.match(slow[0]!.message, /RTU line at 9600 baud \(33\.2 ms on the wire \+ 5\.0 ms gap per exchange\) carries about 26/);
  assert.equal(busWarnings(station(8, 'modbus-rtu:///dev/ttyUSB0?baud=115200', {}, { keepAliveMs: undefined })), []);
});

test('maxInFlight > 1 on RTU (also through a device server) is an error at its path', () => {
  const r = validateConfig(station(2, 'modbus-rtu-tcp://10.0.0.9:4001', { maxInFlight: 2 }));
  assert.not.ok(r.ok);
  assert.ok(!r.ok && r.errors.some((e) => e.path === 'buses.line.maxInFlight' && /only Modbus TCP/.test(e.message)), JSON.stringify(!r.ok && r.errors));
});


test('gas detector controllers and cut-off valves on the line count in its demand', () => {
  const raw = station(2, 'modbus-rtu:///dev/ttyUSB0?baud=9600') as Record<string, unknown>;
  const before = busDemand(raw).get('line')!;
  raw.leakDetectors = [{ id: 'ld1', bus: 'line', unit: 30, pollMs: 500, channels: [{ id: 'g1' }, { id: 'g2' }] }];
  raw.cutoffValves = [{ id: 'cv1', bus: 'line', unit: 31, pollMs: 250 }];
  const after = busDemand(raw).get('line')!;
  // 2 channels x (LEL + status) at 2 Hz, and the cut-off's feedback at 4 Hz.
  assert.is(after.leak, 2 * 2 * 2 + 4);
  assert.ok(Math.abs(after.total - before.total - after.leak) < 1e-9);
});

test.run();
