/**
 * Post controller behaviour beyond the table: the record's content, preact
 * learning, the predicted cut-off, top-up pulses, over-fill handling, times
 * and malformed input.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cutoffGross, learnPreact, targetContent, toleranceOf, transition } from '../../gateway/controller/index.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';
import { CylinderOnScale } from '../../sim/physics.ts';
import { Driver, badge, checker, checkweigh, cylinder, cylinderCode, filler, fresh, makeConfig, sampleOf, toChecked, toClosedOut, toFilling, toReady } from './controller-support.ts';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$/;

/** One whole fill on the driver's post, from scan to close-out. */
function fillOnce(d: Driver, o: { code: string; id: string; flowKgPerMin?: number; closeDelayMs?: number; residualKg?: number }): FillAttempt {
  const residualKg = o.residualKg ?? 1;
  d.physics = new CylinderOnScale({ tareKg: 16.5, residualKg, flowKgPerMin: o.flowKgPerMin ?? 30, openDelayMs: 50, closeDelayMs: o.closeDelayMs ?? 150 });
  d.run(500);
  d.feed(cylinderCode(o.code, d.t, o.id));
  d.feed({ kind: 'verified', attemptId: o.id, cylinder: { ...cylinder, code: o.code, residualKg } });
  d.feed(badge(filler));
  assert.is(d.phase, 'cylinderReady');
  d.feed({ kind: 'start' });
  d.run(120_000, undefined, () => d.phase === 'checked');
  assert.is(d.phase, 'checked');
  d.feed(badge(checker));
  d.t += 100;
  d.feed(sampleOf(0, d.t));
  assert.is(d.phase, 'closedOut');
  const recs = d.records();
  return recs[recs.length - 1];
}

test('a completed fill yields one record with everything the regulator asks for', () => {
  const d = toClosedOut();
  const recs = d.records();
  assert.is(recs.length, 1);
  const r = recs[0];
  assert.is(r.attemptId, 'A1');
  assert.is(r.station, 'ST01');
  assert.is(r.unit, 'U01');
  assert.is(r.post, 'P1');
  assert.is(r.cylinderCode, 'C1');
  assert.is(r.valveCode, 'V1');
  assert.is(r.medium, 'LPG');
  assert.is(r.model, 'YSP35.5');
  assert.is(r.tareKg, 16.5);
  assert.is(r.residualKg, 1);
  assert.is(r.targetKg, 14.8);
  assert.is(r.preactKg, 0.05, 'the learned close dead time (100 ms) at the measured 30 kg/min');
  assert.is(r.topUps, 0, 'a learned post cuts off once');
  assert.equal(r.filler, filler.person);
  assert.equal(r.checker, checker.person);
  assert.ok(r.preFillCheck && r.preFillCheck.items.length === 12 && r.preFillCheck.items.every((i) => i.ok));
  assert.is(r.preFillCheck?.by.badge, 'B-FILL');
  assert.is(r.postFillCheck?.by.badge, 'B-CHECK');
  assert.ok(r.netFilledKg !== undefined && Math.abs(r.netFilledKg - 13.8) < 0.15, `net ${r.netFilledKg}`);
  assert.is(r.reweighScale, 'P1.scale');
  assert.ok(r.reweighedNetKg !== undefined && r.deviationKg !== undefined);
  assert.ok(Math.abs(r.reweighedNetKg - 14.8 - r.deviationKg) < 1e-9);
  assert.is(r.toleranceState, 'in');
  assert.is(r.outcome, 'filled');
  assert.is(r.mustDecant, false);
  assert.ok(ISO.test(r.startedAt ?? '') && ISO.test(r.endedAt ?? ''), `${r.startedAt} ${r.endedAt}`);
  assert.ok((r.durationMs ?? 0) > 20_000 && (r.durationMs ?? 0) < 35_000, `duration ${r.durationMs}`);
  assert.equal(r.trips, []);
  assert.equal(r.refusals, []);
  // Journal: marked in progress before the valve opened, cleared after the record.
  const kinds = d.all.map((c) => c.kind);
  assert.ok(kinds.indexOf('markInProgress') < kinds.indexOf('openValve'));
  // The open carries the hard limit (tare + allowed fill mass) the scale's own setpoint is programmed to (issue 9 point 7).
  const open = d.all.find((c) => c.kind === 'openValve');
  assert.equal(open, { kind: 'openValve', limitGrossKg: r.tareKg! + r.allowedFillKg! });
  assert.ok(kinds.lastIndexOf('record') < kinds.lastIndexOf('clearInProgress'));
});

test('the journal follows the fill: written at the scan and each phase change, each time with what is known, never with a trip of its own', () => {
  const d = toChecked(makeConfig({ checkScale: true }));
  d.feed(badge(checker));
  d.feed(checkweigh(31.26, (d.t += 100)));
  d.feed(checkweigh(31.28, (d.t += 100))); // the re-weigh again: no second write
  assert.is(d.phase, 'reweighed');
  const journals = d.all.flatMap((c) => (c.kind === 'markInProgress' ? [c] : []));
  assert.equal(journals.map((j) => j.stage), ['scan', 'verified', 'ready', 'open', 'cutOff', 'settled', 'checker', 'reweighed']);
  assert.equal(journals.map((j) => !!j.opens), [false, false, false, true, false, false, false, false], 'only the open gates the valve');
  const at = (stage: string) => journals.find((j) => j.stage === stage)!.attempt;
  for (const j of journals) {
    assert.is(j.attempt.attemptId, 'A1');
    assert.is(j.attempt.outcome, 'interrupted');
    assert.equal(j.attempt.trips, [], 'recovery adds the one PROCESS_INTERRUPTED trip');
  }
  assert.is(at('scan').cylinderCode, 'C1');
  assert.is(at('verified').tareKg, 16.5);
  assert.equal(at('ready').filler, filler.person);
  const cut = at('cutOff');
  assert.ok(cut.netFilledKg !== undefined && cut.netFilledKg > 13, `net at the cut-off ${cut.netFilledKg}`);
  assert.ok((cut.durationMs ?? 0) > 20_000, 'the fill time up to the close');
  assert.ok(at('settled').toleranceState !== undefined && at('settled').netFilledKg !== undefined);
  assert.equal(at('checker').checker, checker.person);
  assert.is(at('checker').reweighedGrossKg, undefined, 'not re-weighed yet');
  assert.is(at('reweighed').reweighedGrossKg, 31.26);
  assert.equal(at('reweighed').checker, checker.person);
});

test('a re-weigh before the checker is journalled once, not on every stable sample; the checker then journals the latest', () => {
  const d = toChecked(makeConfig({ checkScale: true }));
  const n = d.all.length;
  for (const g of [31.26, 31.3, 31.24, 31.3]) d.feed(checkweigh(g, (d.t += 100)));
  d.feed(badge(checker));
  const journals = d.all.slice(n).flatMap((c) => (c.kind === 'markInProgress' ? [c] : []));
  assert.equal(journals.map((j) => [j.stage, j.attempt.reweighedGrossKg]), [['reweigh', 31.26], ['reweighed', 31.3]]);
});

test('the duration comes from the monotonic clock: a wall-clock jump mid-fill changes labels, not the duration', () => {
  const d = toFilling();
  const startMono = (d.state.phase as { run: { fillStartedAt: number } }).run.fillStartedAt;
  d.feed({ kind: 'tick', wall: Date.UTC(2026, 0, 1) + 3_600_000 * 5 }); // the PC clock jumps 5 h ahead
  d.run(60_000, undefined, () => d.phase === 'cutOff');
  const closeAt = d.t; // the closeValve came in the transition at this monotonic time
  d.run(60_000, undefined, () => d.phase === 'checked');
  d.feed(badge(checker));
  d.t += 100;
  d.feed(sampleOf(0, d.t));
  const r = d.records()[0];
  assert.is(r.durationMs, Math.round(closeAt - startMono));
  assert.ok(closeAt - startMono > 20_000, 'the duration covers the fill');
  assert.ok(r.endedAt?.startsWith('2026-01-01T13:'), `end label follows the new wall clock: ${r.endedAt}`);
  assert.ok(r.startedAt?.startsWith('2026-01-01T08:'), `start label from before the jump: ${r.startedAt}`);
});

test('a fresh post: the first fill cuts off conservatively and tops up; the valve timing is learned from the weight curve; every fill lands within 20 g', () => {
  const d = new Driver(makeConfig(), fresh(makeConfig()));
  const errors: number[] = [];
  const recs: FillAttempt[] = [];
  for (let i = 0; i < 6; i++) {
    recs.push(fillOnce(d, { code: `C${i}`, id: `A${i}`, closeDelayMs: 180 }));
    errors.push(Math.abs(d.physics!.gasKg(d.t) - 14.8));
  }
  assert.ok((recs[0].topUps ?? 0) >= 1, `the first fill topped up: ${recs[0].topUps}`);
  assert.ok(recs.slice(2).every((r) => r.topUps === 0 || r.topUps === 1), 'learned fills need at most one pulse');
  const timings = d.all.flatMap((c) => (c.kind === 'learnTiming' ? [c.timing] : []));
  // 180 ms of valve lag: the close dead time learned is that, within the 20 g rounding of the driver's scale (±40 ms at 30 kg/min).
  assert.ok(Math.abs(timings.at(-1)!.closeMs - 180) < 40, `learned close ${timings.at(-1)!.closeMs} ms`);
  assert.ok(timings.at(-1)!.fills >= 5);
  const learns = d.all.flatMap((c) => (c.kind === 'learnPreact' ? [c] : []));
  assert.is(learns.length, 6);
  assert.equal(d.state.ctx.preacts['YSP35.5'], learns[5].entry);
  for (const e of errors) assert.ok(e <= 0.02, `error ${e} (all: ${errors.map((x) => x.toFixed(3))})`);
});

test('learning is clamped to the configured limits and the cut-off never passes the allowed mass', () => {
  const cfg = makeConfig({ preact: { initialKg: 0.1, minKg: 0.02, maxKg: 0.3 } });
  assert.is(learnPreact(0.25, 1, undefined, 0, cfg).preactKg, 0.3);
  assert.is(learnPreact(0.05, -1, undefined, 0, cfg).preactKg, 0.02);
  assert.is(cutoffGross(31.3, 31.4, -5), 31.3, 'a negative preact never pushes the cut-off past the target');
  assert.is(cutoffGross(40, 31.4, 0), 31.4, 'never past tare + allowed');
  assert.is(targetContent({ ...cylinder, targetKg: 20 }, cfg), 14.8, 'an explicit target above allowed − margin is cut down');
  assert.is(targetContent({ ...cylinder, targetKg: 10 }, cfg), 10);
  assert.is(toleranceOf(14.95, 14.8, 14.9, 0.2), 'over', 'above the allowed mass is over whatever the tolerance');
  assert.is(toleranceOf(14.69, 14.8, 14.9, 0.1), 'under');
  assert.is(toleranceOf(14.9, 14.8, 14.9, 0.1), 'in');
});

test('the cut-off is predicted between samples: the close comes on a tick, not on a sample', () => {
  const d = toFilling();
  let closeOnTick = false;
  let wakeBetweenSamples = false;
  while (d.phase === 'filling') {
    const wake = d.last.wakeAt;
    if (wake !== undefined && wake % 100 !== 0 && wake - d.t < 100) wakeBetweenSamples = true;
    const before = d.all.length;
    d.run(100, undefined, () => d.phase !== 'filling');
    const close = d.all.slice(before).find((c) => c.kind === 'closeValve');
    if (close && d.t % 100 !== 0) closeOnTick = true;
  }
  assert.ok(wakeBetweenSamples, 'wakeAt asked for a tick between two samples');
  assert.ok(closeOnTick, 'the valve closed at the predicted time between samples');
});

test('an under-filled cylinder is topped up with pulses, counted in the record', () => {
  const cfg = makeConfig({ topUp: { minPulseMs: 50, maxPulses: 5 } });
  const d = new Driver(cfg, fresh(cfg)); // a first fill: conservative cut-off
  const r = fillOnce(d, { code: 'C1', id: 'A1', flowKgPerMin: 12, closeDelayMs: 60 });
  assert.ok((r.topUps ?? 0) >= 1, `top-ups ${r.topUps}`);
  assert.ok(d.all.filter((c) => c.kind === 'openValve').length === 1 + (r.topUps ?? 0));
  assert.ok(d.all.every((c) => c.kind !== 'openValve' || c.limitGrossKg === r.tareKg! + r.allowedFillKg!), 'every top-up pulse carries the limit too');
  assert.ok(d.all.some((c) => c.kind === 'closeValve' && c.reason === 'TOP_UP_END'));
  // Only the main fill teaches the preact.
  assert.is(d.all.filter((c) => c.kind === 'learnPreact').length, 1);
  assert.is(r.outcome, r.toleranceState === 'in' ? 'filled' : 'underfilled');
});

test('top-ups are limited: with maxPulses 0 a first fill closes out under, with 1 it gets one pulse at most', () => {
  const none = makeConfig({ topUp: { minPulseMs: 50, maxPulses: 0 } });
  const d0 = new Driver(none, fresh(none));
  const r0 = fillOnce(d0, { code: 'C1', id: 'A1', flowKgPerMin: 12, closeDelayMs: 60 });
  assert.is(r0.topUps, 0);
  assert.is(r0.outcome, 'underfilled');
  assert.is(r0.toleranceState, 'under');
  const one = makeConfig({ topUp: { minPulseMs: 50, maxPulses: 1 } });
  const d1 = new Driver(one, fresh(one));
  const r1 = fillOnce(d1, { code: 'C1', id: 'A1', flowKgPerMin: 12, closeDelayMs: 60 });
  assert.is(r1.topUps, 1);
  assert.is(d1.all.filter((c) => c.kind === 'openValve').length, 2);
});

test('a stuck-open valve hits the hard limit after the cut-off: closed again, OVERFILL recorded, fault, mustDecant', () => {
  const d = toFilling();
  d.physics!.stuckOpen = true;
  d.run(60_000, undefined, () => d.phase === 'cutOff' || d.phase === 'fault');
  assert.is(d.phase, 'cutOff', 'the target cut-off was commanded');
  // The valve ignores the close: gas keeps coming until a sample reaches tare + allowed fill mass.
  d.run(60_000, undefined, () => d.phase === 'fault');
  assert.is(d.phase, 'fault', 'the post faults instead of waiting for a check');
  const recs = d.records();
  assert.is(recs.length, 1);
  const r = recs[0];
  assert.is(r.outcome, 'overfilled');
  assert.is(r.mustDecant, true);
  assert.is(r.toleranceState, 'over');
  assert.is(r.trips[0].code, 'OVERFILL');
  assert.ok((r.trips[0].grossKg ?? 0) >= cylinder.tareKg + cylinder.allowedFillKg);
});

test('the hard overfill cut-off trips on the first sample at the limit, whatever the target logic says', () => {
  const d = toFilling();
  d.t += 100;
  const step = d.feed(sampleOf(31.4, d.t));
  assert.equal(step.commands[0], { kind: 'closeValve', reason: 'OVERFILL' });
  const r = d.records()[0];
  assert.is(r.outcome, 'overfilled');
  assert.is(r.mustDecant, true);
  assert.is(r.trips[0].code, 'OVERFILL');
  assert.is(r.trips[0].grossKg, 31.4);
  assert.ok(ISO.test(r.trips[0].at));
});

test('the check scale decides the tolerance: an over-weight re-weigh closes out as overfilled', () => {
  const d = toChecked(makeConfig({ checkScale: true }));
  d.feed(badge(checker));
  d.feed(checkweigh(16.5 + 15.0, d.t));
  assert.is(d.phase, 'reweighed');
  d.feed(checkweigh(0, d.t + 100));
  const r = d.records()[0];
  assert.is(r.outcome, 'overfilled');
  assert.is(r.mustDecant, true);
  assert.is(r.reweighScale, 'check.scale');
  assert.is(r.reweighedGrossKg, 31.5);
  assert.is(r.reweighedNetKg, 15);
  assert.ok(r.netFilledKg !== undefined && r.netFilledKg < 14, 'the post-scale net is kept beside the re-weighed mass');
  assert.is(d.all.at(-1)?.kind, 'status');
  assert.ok(d.all.some((c) => c.kind === 'display' && c.reason === 'OVERFILLED_MUST_DECANT'));
});

test('wakeAt: the verify deadline while identified, within the stale limit while filling', () => {
  const d = toReady();
  assert.is(d.last.wakeAt, undefined);
  const f = toFilling();
  assert.ok(f.last.wakeAt !== undefined && f.last.wakeAt <= f.t + 300, `wakeAt ${f.last.wakeAt} at ${f.t}`);
  const i = new Driver();
  i.feed(sampleOf(17.5, 100));
  const step = i.feed(cylinderCode('C1'));
  assert.is(step.wakeAt, 5000);
});

test('a malformed sample is counted and ignored; while filling the stale limit then trips', () => {
  const d = toFilling();
  for (let k = 0; k < 3; k++) {
    d.t += 100;
    d.feed(sampleOf(Number.NaN, d.t));
  }
  assert.is(d.state.ctx.badInputs, 3);
  d.feed({ kind: 'tick' });
  assert.is(d.phase, 'fault');
  assert.ok(d.all.some((c) => c.kind === 'closeValve' && c.reason === 'STALE_WEIGHT'));
});

test('an exception inside a handler closes the valve instead of escaping', () => {
  const d = toFilling();
  const bad = { kind: 'code' } as unknown as Parameters<typeof transition>[1]; // no `read`: the handler throws
  const step = transition(d.state, bad, d.t);
  assert.is(step.state.phase.kind, 'fault');
  assert.equal(step.commands[0], { kind: 'closeValve', reason: 'CONTROLLER_ERROR' });
  assert.ok(step.commands.some((c) => c.kind === 'record' && c.attempt.trips[0]?.code === 'CONTROLLER_ERROR'));
});

test('a refused attempt has one record with the refusal and the cylinder facts known so far', () => {
  const d = new Driver();
  d.feed(sampleOf(17.5, 100));
  d.feed(cylinderCode('C1', 100, 'A9'));
  d.feed({ kind: 'verified', attemptId: 'A9', cylinder: { ...cylinder, medium: 'DME' } });
  const [r] = d.records();
  assert.is(r.outcome, 'refused');
  assert.equal(r.refusals.map((x) => x.code), ['MEDIUM_MISMATCH']);
  assert.is(r.model, 'YSP35.5');
  assert.is(r.durationMs, undefined, 'never opened: no fill duration');
});

test.run();
