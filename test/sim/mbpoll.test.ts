/**
 * Interop: mbpoll (epsilonrt/mbpoll, a Modbus master nobody here wrote) reads
 * the simulated scale and relay module. mbpoll counts references from 1, so
 * wire address 4 is reference 5. Run asynchronously: the simulator lives in
 * this process and must keep answering while mbpoll waits.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startSimulator, type Simulator } from '../../sim/index.ts';
import { eventually, modbusTarget, testStation } from './helpers.ts';
import { missing, skipIf } from '../fixtures/needs.ts';

const run = promisify(execFile);
const it = skipIf(test, missing('mbpoll'));
let sim: Simulator;

/** Options first, then the host, then any values to write (mbpoll's argument order). */
async function mbpoll(device: string, args: string[], writes: string[] = []): Promise<string> {
  const { port, unitId } = modbusTarget(sim.endpoints()[device]!);
  const r = await run('mbpoll', ['-m', 'tcp', '-p', String(port), '-a', String(unitId), '-1', '-o', '2', ...args, '127.0.0.1', ...writes], { timeout: 15_000 });
  return r.stdout;
}

/** mbpoll prints `[ref]: \tvalue` lines. */
function values(out: string): Map<number, number> {
  return new Map([...out.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)].map((m) => [Number(m[1]), Number(m[2])]));
}

test.before(async () => {
  sim = await startSimulator(testStation(), { portsFromZero: true });
});
test.after(async () => {
  await sim.close();
});

it('mbpoll reads the FT-112 gross weight (reference 5, int32 big-endian) the simulator shows', async () => {
  sim.place('P1', 'CYL1');
  await eventually(() => sim.state().posts[0]!.scale.stable, 5000, 'stable');
  const out = await mbpoll('P1.scale', ['-r', '5', '-c', '1', '-t', '4:int', '-B']);
  const shown = sim.state().posts[0]!.scale.grossKg;
  assert.is(values(out).get(5), Math.round(shown * 100), out);
  assert.is(shown, 17.1);
});

it('mbpoll writes the valve coil and reads the feedback input', async () => {
  await mbpoll('P1.valve', ['-r', '1', '-t', '0'], ['1']);
  assert.is(sim.state().posts[0]!.valve.coil, true);
  await eventually(() => sim.state().posts[0]!.valve.open, 3000, 'open');
  const out = await mbpoll('P1.valve', ['-r', '1', '-c', '1', '-t', '1']);
  assert.is(values(out).get(1), 0, `feedback "closed" input is OFF while open:\n${out}`);
  await mbpoll('P1.valve', ['-r', '1', '-t', '0'], ['0']);
  assert.is(sim.state().posts[0]!.valve.coil, false);
});

test.run();
