/**
 * Issue 9 point 6: the valve invariant, checked on the wire under chaos. First
 * the check itself on made-up traces (it must catch each defect it is for),
 * then a short seeded soak on Modbus TCP and on RTU: 8 posts, shared bus, slow, deaf
 * and garbled units, link drops, gateway restarts and (on Modbus TCP) one
 * SIGKILL of a child-process gateway. The long soak is `npm run bench -- valve-soak`.
 *
 * SOAK_SEED=n replays another chaos plan; a failure prints the seed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkInvariant, type CheckInput, type CoilWriteAt, type Decision } from './soak-check.ts';
import { formatSoak, runSoak, type SoakOptions } from './soak-harness.ts';

const open = (t: number): Decision => ({ post: 'P1', t, kind: 'open' });
const close = (t: number, reason = 'TARGET'): Decision => ({ post: 'P1', t, kind: 'close', reason });
const w = (t: number, on: boolean): CoilWriteAt => ({ coil: 0, on, t });
const check = (decisions: Decision[], tx: CoilWriteAt[], rx: CoilWriteAt[], more: Partial<CheckInput> = {}) =>
  checkInvariant({ coils: { P1: 0 }, decisions, tx, rx, linkDown: [], boundMs: 510, ...more });

test('check: a clean attempt passes and its close latency is measured', () => {
  const r = check([open(0), close(100)], [w(1, true), w(101, false)], [w(1.2, true), w(101.3, false)]);
  assert.equal(r.violations, []);
  assert.equal(r.latencies.map((x) => Math.round(x * 10) / 10), [1.3]);
  assert.is(r.attemptsOnWire, 1);
});

test('check: an ON queued behind the close that reaches the module after its OFF is a violation', () => {
  const r = check([open(0), close(100)], [w(1, true), w(150, false), w(150.5, true)], [w(1.2, true), w(150.2, false), w(150.7, true), w(450, false)]);
  assert.is(r.violations.length, 1, r.violations.join('\n'));
  assert.match(r.violations[0]!, /after the close was decided \(after its OFF\)/);
});

test('check: one ON already sent when the close was decided may arrive, a second (a retry) may not', () => {
  const inFlight = check([open(0), close(100)], [w(1, true), w(99, true), w(101, false)], [w(1.2, true), w(100.5, true), w(101.2, false)]);
  assert.equal(inFlight.violations, []);
  const retried = check([open(0), close(100)], [w(1, true), w(99, true), w(300, true), w(500, false)], [w(1.2, true), w(100.5, true), w(300.2, true), w(500.2, false)]);
  assert.is(retried.violations.length, 1, retried.violations.join('\n'));
});

test('check: an OFF later than the bound is counted, unless the link was down meanwhile', () => {
  const slow = check([open(0), close(100)], [w(1, true), w(899, false)], [w(1.2, true), w(900, false)]);
  assert.is(slow.overBound, 1);
  const down = check([open(0), close(100)], [w(1, true), w(899, false)], [w(1.2, true), w(900, false)], { linkDown: [{ from: 150, to: 850 }] });
  assert.is(down.overBound, 0);
  assert.is(down.excused, 1);
});

test('check: OFFs of other coils queued right before a close extend its bound by one request each, polls do not', () => {
  const more = { perRequestMs: 210 };
  const queued = check([open(0), close(100)], [], [w(1, true), w(920, false)], { ...more, requests: [{ t: 300, offCoil: 1 }, { t: 510, offCoil: 2 }, { t: 920, offCoil: 0 }] });
  assert.is(queued.overBound, 0);
  const polls = check([open(0), close(100)], [], [w(1, true), w(1000, false)], { ...more, requests: [{ t: 150 }, { t: 350 }, { t: 550 }, { t: 600, offCoil: 1 }, { t: 1000, offCoil: 0 }] });
  assert.is(polls.overBound, 1);
  assert.is(polls.maxWaitedBehind, 3);
});

test('check: a close that never reached the wire before the next open is a violation, so is an ON with nothing open', () => {
  const r = check([open(0), close(100), open(2000)], [], [w(1, true), w(2001, true), w(2100, false)]);
  assert.match(r.violations.join('\n'), /never reached the wire/);
  // Its OFF may still come after the next open is decided (a link coming back), as long as it beats the new ON.
  const late = check([open(0), close(100), open(2000)], [], [w(1, true), w(2050, false), w(2060, true), w(2100, false)], { linkDown: [{ from: 90, to: 2040 }] });
  assert.equal(late.violations, []);
  assert.is(late.excused, 1);
  const stray = check([], [], [w(5, true), w(10, false)]);
  assert.match(stray.violations.join('\n'), /no attempt open/);
});

test('check: in a wire-only span a start that writes ON first, or an ON right after an attempt ended, is a violation', () => {
  const span = { wireOnly: [{ from: 0, to: 5000 }] };
  assert.equal(check([], [], [w(5, false), w(10, true), w(900, false), w(1500, true), w(2000, false)], span).violations, []);
  assert.is(check([], [], [w(10, true), w(900, false)], span).violations.length, 1);
  assert.is(check([], [], [w(5, false), w(10, true), w(900, false), w(950, true), w(1200, false)], span).violations.length, 1);
});

const seed = Number(process.env.SOAK_SEED ?? 20260601);

async function soak(o: Omit<SoakOptions, 'seed'>, minFills: number): Promise<void> {
  const r = await runSoak({ seed, ...o });
  console.log(formatSoak(r));
  const again = `(replay: SOAK_SEED=${seed})`;
  assert.ok(r.fills >= minFills, `only ${r.fills} fills reached the wire ${again}`);
  assert.is(r.violations.length, 0, `${r.violations.length} violations of the valve invariant ${again}:\n${r.violations.slice(0, 10).join('\n')}`);
  // The bound is one request timeout + wire time + margin: a close that waits for another request's retries exceeds it.
  assert.ok(!(r.max > r.boundMs), `close latency max ${r.max.toFixed(1)} ms > bound ${r.boundMs} ms ${again}:\n${r.slow.join('\n')}`);
}

test('soak, Modbus TCP: 8 scales and the relay module on one bus, chaos, restarts and a SIGKILL', async () => {
  await soak({ bus: 'modbus-tcp', durationMs: 35_000, chaosEveryMs: 1500, restartEveryMs: 12_000, killEveryMs: 15_000, maxKills: 1 }, 25);
});

test('soak, RTU on an RS-485 line (socat pty, 115200 baud): the same station, chaos and restarts', async () => {
  await soak({ bus: 'rtu-pty', durationMs: 20_000, chaosEveryMs: 1500, restartEveryMs: 8000 }, 20);
});

test.run();
