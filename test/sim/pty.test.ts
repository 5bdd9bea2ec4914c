/**
 * Serial lines on socat pty pairs: an RTU bus shared by a scale and a relay
 * module, an A9 stream scale and a reader. The test opens the gateway's end as
 * a serial port, like the gateway would. Skipped (counted, with the reason) without socat.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import modbus from 'modbus-serial';
import { SerialPort } from 'serialport';
import { decodeValue } from '../../protocols/modbus/registers.ts';
import { scaleCodec } from '../../protocols/scale/index.ts';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { socatAvailable } from '../../sim/wire/pty.ts';
import { eventually, testStation } from './helpers.ts';
import { missing, skipIf } from '../fixtures/needs.ts';

const ModbusRTU = modbus.default;
const haveSocat = socatAvailable();
const it = skipIf(test, missing('socat'));
let sim: Simulator;
let dir: string;
const ports: SerialPort[] = [];

function serialPath(url: string): { path: string; baud: number } {
  const u = new URL(url);
  return { path: u.pathname, baud: Number(u.searchParams.get('baud')) };
}

async function openSerial(url: string): Promise<{ port: SerialPort; bytes: () => Buffer }> {
  const { path, baud } = serialPath(url);
  const port = new SerialPort({ path, baudRate: baud, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  ports.push(port);
  let got = Buffer.alloc(0);
  port.on('data', (b: Buffer) => (got = Buffer.concat([got, b])));
  return { port, bytes: () => got };
}

const closePort = (p: SerialPort) => new Promise<void>((r) => (p.isOpen ? p.close(() => r()) : r()));

test.before(async () => {
  if (!haveSocat) return;
  dir = mkdtempSync(join(tmpdir(), 'fillgate-sim-pty-'));
  const station = testStation({
    buses: { rs485: { transport: 'rtu-pty', baud: 9600 } },
    checkScale: undefined,
  });
  station.posts![0]!.scale = { protocol: 'modbus', bus: 'rs485', unitId: 1, registerMap: 'flintec-ft112', noiseKg: 0 };
  station.posts![0]!.reader = { transport: 'pty' };
  station.posts![0]!.valve = { bus: 'rs485', unitId: 2, coil: 0, feedbackInput: 0 };
  station.posts![1]!.scale = { protocol: 'xk3190-a9', transport: 'pty', noiseKg: 0, framesPerSecond: 20 };
  station.posts![1]!.valve = { bus: 'rs485', unitId: 2, coil: 1 };
  sim = await startSimulator(station, { portsFromZero: true, ptyDir: dir });
});
test.after(async () => {
  if (!haveSocat) return;
  for (const p of ports) await closePort(p);
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

it('pty endpoints are serial URLs in the pty directory', () => {
  const e = sim.endpoints();
  assert.is(e['P1.scale'], `modbus-rtu://${dir}/bus-rs485?baud=9600#unit=1`);
  assert.is(e['P1.valve'], `modbus-rtu://${dir}/bus-rs485?baud=9600#unit=2`);
  assert.is(e['P2.scale'], `serial://${dir}/P2-scale?baud=9600`);
  assert.is(e['P1.reader'], `serial://${dir}/P1-reader?baud=9600`);
  assert.ok(existsSync(`${dir}/bus-rs485`));
});

it('RTU bus on a pty: scale and relay module share it; answers take their wire time', async () => {
  sim.place('P1', 'CYL1');
  const c = new ModbusRTU();
  await c.connectRTUBuffered(`${dir}/bus-rs485`, { baudRate: 9600 });
  c.setTimeout(2000);
  try {
    c.setID(1);
    await eventually(() => sim.state().posts[0]!.scale.stable, 5000, 'stable');
    const t0 = performance.now();
    const regs = (await c.readHoldingRegisters(4, 2)).data;
    const rtt = performance.now() - t0;
    assert.is(decodeValue(regs, { type: 'int32' }), 1710);
    // 8-byte request + 9-byte answer = 17 bytes × 10 bits at 9600 baud ≈ 17.7 ms on a real line.
    assert.ok(rtt >= 15, `round trip ${rtt.toFixed(1)} ms includes the wire time`);
    c.setID(2);
    await c.writeCoil(0, true);
    assert.is(sim.state().posts[0]!.valve.coil, true);
    await c.writeCoil(0, false);
  } finally {
    await new Promise<void>((r) => c.close(() => r()));
  }
});

it('A9 stream and reader lines on ptys decode with the shared codecs', async () => {
  const scale = await openSerial(sim.endpoints()['P2.scale']!);
  sim.place('P2', 'CYL2');
  const dec = () => scaleCodec('xk3190-a9').decoder().push(scale.bytes()).filter((e) => e.kind === 'frame');
  await eventually(() => dec().some((e) => e.kind === 'frame' && e.frame.weightKg === 14.2), 5000, '14.2 kg frames');
  const reader = await openSerial(sim.endpoints()['P1.reader']!);
  await eventually(() => sim.scan('P1', 'CODE-42') && reader.bytes().toString().includes('CODE-42\r\n'), 5000, 'reader line');
});

it('the gateway closing its end and reopening works (socat restarted); link-drop removes the node for a while', async () => {
  const url = sim.endpoints()['P2.scale']!;
  const first = ports.find((p) => p.path === serialPath(url).path)!;
  await closePort(first);
  const again = await eventually(() => openSerial(url).catch(() => undefined), 8000, 'reopen after close');
  await eventually(() => again.bytes().length >= 24, 5000, 'frames after reopen');
  sim.setFault({ device: 'P2.scale', kind: 'link-drop', ms: 600 });
  await eventually(() => !existsSync(serialPath(url).path), 3000, 'node gone');
  await eventually(() => existsSync(serialPath(url).path), 5000, 'node back');
  const third = await eventually(() => openSerial(url).catch(() => undefined), 8000, 'open after drop');
  await eventually(() => third.bytes().length >= 24, 5000, 'frames after drop');
});

test.run();
