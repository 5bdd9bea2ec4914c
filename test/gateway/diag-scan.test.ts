/**
 * `fillgate modbus scan` against the simulator over real TCP: it finds
 * exactly the unit ids that are there, on a Modbus TCP server (which answers
 * 0x0B for the others) and on an RTU line (silent for the others); an
 * exception counts as an answer, a garbled reply does not.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isFillgateError } from '../../protocols/errors.ts';
import { scanBus } from '../../gateway/diag/scan.ts';
import { formatScanSummary } from '../../gateway/diag/format.ts';
import type { Simulator } from '../../sim/index.ts';
import { startDiagSim } from './diag-helpers.ts';

let sim: Simulator;
let tcpBus: string;
let rtuBus: string;

test.before(async () => {
  sim = await startDiagSim();
  const ep = sim.deviceEndpoints();
  tcpBus = ep['P1.scale']!.url.replace(/#.*$/, '');
  rtuBus = ep['check.scale']!.url.replace(/#.*$/, '');
});

test.after(async () => {
  await sim.close();
});

test('Modbus TCP: exactly the simulated units answer; the server says 0x0B for the rest', async () => {
  const seen: number[] = [];
  const results = await scanBus(tcpBus, { from: 0, to: 12, timeoutMs: 300, onResult: (r) => seen.push(r.unitId) });
  assert.equal(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(results.filter((r) => r.answers).map((r) => r.unitId), [1, 2, 3]);
  for (const r of results.filter((x) => !x.answers)) {
    assert.is(r.kind, 'no-target');
    assert.match(r.response, /exception 11 \(gateway target device failed to respond\)/);
  }
  const scale = results.find((r) => r.unitId === 1)!;
  assert.is(scale.kind, 'data');
  assert.match(scale.response, /^holding \[0x[0-9A-F]{4}\]$/);
  assert.ok(typeof scale.rttMs === 'number' && scale.rttMs > 0);
  // The relay module has coils and inputs, no holding registers: an exception is still an answer.
  const relay = results.find((r) => r.unitId === 2)!;
  assert.is(relay.kind, 'exception');
  assert.ok(relay.answers);
  assert.match(formatScanSummary(tcpBus, results), /3 unit\(s\) answer on .*: 1, 2, 3/);
});

test('RTU over TCP: only unit 5 answers; function, register and count are used', async () => {
  let results = await scanBus(rtuBus, { from: 1, to: 8, timeoutMs: 300 });
  assert.equal(results.filter((r) => r.answers).map((r) => r.unitId), [5]);
  assert.ok(results.filter((r) => r.unitId !== 5).every((r) => r.kind === 'silent'));
  // The C500 map lives in input registers: FC03 gets an exception, FC04 of gross (1, 2 words) gets data.
  assert.is(results.find((r) => r.unitId === 5)!.kind, 'exception');
  results = await scanBus(rtuBus, { from: 5, to: 5, function: 4, register: 1, count: 2 });
  assert.is(results[0]!.kind, 'data');
  assert.match(results[0]!.response, /^input registers \[0x[0-9A-F]{4} 0x[0-9A-F]{4}\]$/);
});

test('a unit whose replies fail the CRC is reported garbled, not as answering', async () => {
  sim.setFault({ device: 'check.scale', kind: 'corrupt' });
  try {
    const results = await scanBus(rtuBus, { from: 4, to: 6, timeoutMs: 300 });
    assert.equal(results.filter((r) => r.answers), []);
    assert.is(results.find((r) => r.unitId === 5)!.kind, 'garbled');
    assert.match(formatScanSummary(rtuBus, results), /garbled replies for unit\(s\) 5/);
  } finally {
    sim.clearFaults('check.scale');
  }
});

test('bad options and a bus that cannot be opened are errors, not empty results', async () => {
  const err1 = await scanBus(tcpBus, { from: 9, to: 3 }).catch((e: unknown) => e);
  assert.ok(isFillgateError(err1, 'BAD_PAYLOAD'));
  const err2 = await scanBus('modbus-tcp://127.0.0.1:1?x=1').catch((e: unknown) => e);
  assert.ok(isFillgateError(err2, 'BAD_URL'));
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const err3 = await scanBus(`modbus-tcp://127.0.0.1:${port}`, { connectTimeoutMs: 1000 }).catch((e: unknown) => e);
  assert.ok(isFillgateError(err3, 'LINK_OPEN_FAILED'), String(err3));
});

test.run();
