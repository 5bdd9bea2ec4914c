/**
 * Transition table of the post controller: every phase, every trip and every
 * refusal path. Each row reaches its phase through real transitions, applies
 * one input and expects the next phase and the exact command kinds, in order
 * (closeValve always first).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Command, PhaseKind, Step } from '../../gateway/controller/index.ts';
import {
  Driver, badge, checker, checkweigh, cylinder, cylinderCode, filler, makeConfig, sampleOf,
  toAborted, toChecked, toClosedOut, toCutOff, toFault, toFilling, toIdentified, toReady, toReweighed, toSettling, toToppingUp, toVerified,
} from './controller-support.ts';

interface Row {
  from: () => Driver;
  act: (d: Driver) => Step;
  phase: PhaseKind;
  kinds: string[];
  /** Trip or refusal code expected in a closeValve, record or display. */
  code?: string;
  /** Outcome of the step's record, when it writes one. */
  outcome?: string;
  /** Record fields expected on the step's record. */
  fields?: Record<string, unknown>;
}

const find = (cs: Command[], code: string) =>
  cs.some((c) =>
    (c.kind === 'closeValve' && c.reason === code) ||
    (c.kind === 'display' && c.reason === code) ||
    (c.kind === 'record' && (c.attempt.trips.some((t) => t.code === code) || c.attempt.refusals.some((r) => r.code === code))),
  );

const at = (d: Driver, ms: number) => ((d.t += ms), d.t);
/** n samples every 100 ms from g0, rising by kgPerPoll each (stable only when not rising). */
const ramp = (d: Driver, g0: number, kgPerPoll: number, n: number) => {
  let step = d.last;
  for (let i = 1; i <= n && (i === 1 || step.commands.length === 0); i++) step = d.feed(sampleOf(Math.round((g0 + kgPerPoll * i) * 50) / 50, at(d, 100), kgPerPoll === 0));
  return step;
};
const settled = (d: Driver, g: number) => {
  for (let i = 0; i < 4; i++) d.feed(sampleOf(g, at(d, 100)));
  return d;
};
/** Stable samples of g until a step writes something (at most 6). */
const settleOn = (d: Driver, g: number) => {
  let step = d.feed(sampleOf(g, at(d, 100)));
  for (let i = 0; i < 5 && step.commands.length === 0; i++) step = d.feed(sampleOf(g, at(d, 100)));
  return step;
};
const grossOf = (d: Driver) => d.state.ctx.last!.grossKg;
/** The filler's second card: another badge, the same certificate (the same person). */
const fillerSecondCard = { ...filler, person: { ...filler.person, badge: 'B-FILL-2' } };
const ALARM = ['record', 'clearInProgress', 'alarm', 'display', 'status'];
const UNAUTH = ['closeValve', 'record', 'alarm', 'display', 'status'];
const idleDriver = () => {
  const d = new Driver();
  d.feed(sampleOf(17.5, at(d, 100)));
  return d;
};
const REFUSED = ['record', 'display', 'status'];
const TRIP = ['closeValve', 'record', 'clearInProgress', 'display', 'status'];
const other = () => cylinder;

const rows: Record<string, Row> = {
  // idle and its look-alikes
  'idle: cylinder code → identified, verify asked': { from: idleDriver, act: (d) => d.feed(cylinderCode('C1')), phase: 'identified', kinds: ['verify', 'markInProgress', 'status'] },
  'idle: badge alone does nothing': { from: idleDriver, act: (d) => d.feed(badge(filler)), phase: 'idle', kinds: [] },
  'idle: code under a leak lock is refused': { from: idleDriver, act: (d) => (d.feed({ kind: 'leakAlarm', active: true }), d.feed(cylinderCode('C1'))), phase: 'idle', kinds: ['record', 'display'], code: 'STATION_LOCKED_LEAK' },
  'idle: code under an upload lock is refused': { from: idleDriver, act: (d) => (d.feed({ kind: 'stationLock', lock: 'upload', active: true }), d.feed(cylinderCode('C1'))), phase: 'idle', kinds: ['record', 'display'], code: 'STATION_LOCKED_UPLOAD' },
  'idle: code under a store lock is refused': { from: idleDriver, act: (d) => (d.feed({ kind: 'stationLock', lock: 'store', active: true }), d.feed(cylinderCode('C1'))), phase: 'idle', kinds: ['record', 'display'], code: 'STATION_LOCKED_STORE' },
  'idle: valve reports open → closed again, fault': { from: idleDriver, act: (d) => d.feed({ kind: 'valveOpened' }), phase: 'fault', kinds: ['closeValve', 'status'], code: 'VALVE_FEEDBACK' },
  'idle: sample changes nothing': { from: idleDriver, act: (d) => d.feed(sampleOf(17.5, at(d, 100))), phase: 'idle', kinds: [] },
  'idle: weight rises with no attempt → UNAUTHORISED_FILL, post locked': {
    from: () => settled(idleDriver(), 16.6), act: (d) => ramp(d, 16.6, 0.05, 15), phase: 'fault', kinds: UNAUTH, code: 'UNAUTHORISED_FILL', outcome: 'unauthorised_fill',
  },
  'idle: unauthorised fill without the lock → recorded and alarmed, post stays usable': {
    from: () => {
      const d = new Driver(makeConfig({ lockOnUnauthorisedFill: false }));
      return settled(d, 16.6);
    },
    act: (d) => ramp(d, 16.6, 0.05, 15), phase: 'idle', kinds: ['closeValve', 'record', 'alarm', 'display'], code: 'UNAUTHORISED_FILL', outcome: 'unauthorised_fill',
  },
  'idle: a heavier cylinder put on is not a fill': {
    from: () => settled(idleDriver(), 16.6), act: (d) => (d.feed(sampleOf(0.1, at(d, 100))), settled(d, 31.4), d.feed(sampleOf(31.4, at(d, 100)))), phase: 'idle', kinds: [],
  },
  'idle: a cylinder swapped without the scale going empty is not a fill': {
    from: () => settled(idleDriver(), 16.6), act: (d) => (settled(d, 31.4), d.feed(sampleOf(31.42, at(d, 100)))), phase: 'idle', kinds: [],
  },
  'fault (unauthorised fill): reset → idle': {
    from: () => {
      const d = settled(idleDriver(), 16.6);
      ramp(d, 16.6, 0.05, 15);
      return d;
    },
    act: (d) => d.feed({ kind: 'reset', by: 'B-SUP' }), phase: 'idle', kinds: ['status'],
  },
  'closedOut: next cylinder → identified': { from: toClosedOut, act: (d) => d.feed(cylinderCode('C2')), phase: 'identified', kinds: ['verify', 'markInProgress', 'status'] },
  'aborted (before filling): rescan → identified': { from: toAborted, act: (d) => d.feed(cylinderCode('C1')), phase: 'identified', kinds: ['verify', 'markInProgress', 'status'] },
  'fault reset with the filled cylinder still on the scale: next code refused (nozzle interlock)': {
    from: toFault, act: (d) => (d.feed({ kind: 'reset' }), d.feed(cylinderCode('C2'))), phase: 'idle', kinds: ['record', 'display'], code: 'PREVIOUS_NOT_CLOSED_OUT',
  },
  // identified
  'identified: verified → verified': { from: toIdentified, act: (d) => d.feed({ kind: 'verified', attemptId: 'A1', cylinder }), phase: 'verified', kinds: ['markInProgress', 'status'] },
  'identified: refused by the registry → idle with a record': { from: toIdentified, act: (d) => d.feed({ kind: 'refused', attemptId: 'A1', refusals: [{ code: 'INSPECTION_OVERDUE' }] }), phase: 'idle', kinds: REFUSED, code: 'INSPECTION_OVERDUE' },
  'identified: DME cylinder at an LPG post → refused': { from: toIdentified, act: (d) => d.feed({ kind: 'verified', attemptId: 'A1', cylinder: { ...cylinder, medium: 'DME' } }), phase: 'idle', kinds: REFUSED, code: 'MEDIUM_MISMATCH' },
  'identified: tare missing → refused': { from: toIdentified, act: (d) => d.feed({ kind: 'verified', attemptId: 'A1', cylinder: { ...cylinder, tareKg: Number.NaN } }), phase: 'idle', kinds: REFUSED, code: 'TARE_MISSING' },
  'identified: allowed fill mass missing → refused': { from: toIdentified, act: (d) => d.feed({ kind: 'verified', attemptId: 'A1', cylinder: { ...cylinder, allowedFillKg: 0 } }), phase: 'idle', kinds: REFUSED, code: 'FILL_MASS_MISSING' },
  'identified: answer for another code → refused': { from: toIdentified, act: (d) => d.feed({ kind: 'verified', attemptId: 'A1', cylinder: { ...cylinder, code: 'C9' } }), phase: 'idle', kinds: REFUSED, code: 'UNKNOWN_CODE' },
  'identified: no answer in time → refused': { from: toIdentified, act: (d) => (at(d, 5000), d.feed({ kind: 'tick' })), phase: 'idle', kinds: REFUSED, code: 'VERIFY_TIMEOUT' },
  'identified: early tick waits': { from: toIdentified, act: (d) => (at(d, 100), d.feed({ kind: 'tick' })), phase: 'identified', kinds: [] },
  'identified: stop → aborted with a record': { from: toIdentified, act: (d) => d.feed({ kind: 'stop' }), phase: 'aborted', kinds: ['record', 'status'], code: 'OPERATOR_STOP' },
  'identified: leak alarm → refused': { from: toIdentified, act: (d) => d.feed({ kind: 'leakAlarm', active: true }), phase: 'idle', kinds: REFUSED, code: 'STATION_LOCKED_LEAK' },
  'identified: another cylinder scanned → that one refused, this one goes on': { from: toIdentified, act: (d) => d.feed(cylinderCode('C2')), phase: 'identified', kinds: ['record', 'display'], code: 'PREVIOUS_NOT_CLOSED_OUT' },
  'identified: a stale registry reply is ignored': { from: toIdentified, act: (d) => d.feed({ kind: 'verified', attemptId: 'OLD', cylinder }), phase: 'identified', kinds: [] },
  // verified
  "verified: filler's badge on a stable, plausible weight → cylinderReady": { from: toVerified, act: (d) => d.feed(badge(filler)), phase: 'cylinderReady', kinds: ['markInProgress', 'status'] },
  'verified: unknown badge → shown, still verified': { from: toVerified, act: (d) => d.feed(badge(undefined, 'B-??')), phase: 'verified', kinds: ['display'], code: 'OPERATOR_UNKNOWN' },
  'verified: badge without the filler role': { from: toVerified, act: (d) => d.feed(badge({ ...checker, roles: ['checker'] })), phase: 'verified', kinds: ['display'], code: 'OPERATOR_NOT_FILLER' },
  'verified: expired certificate': { from: toVerified, act: (d) => d.feed(badge({ ...filler, certificateValid: false })), phase: 'verified', kinds: ['display'], code: 'CERTIFICATE_EXPIRED' },
  'verified: cylinder taken away before any filler badged in → refused NO_OPERATOR': { from: toVerified, act: (d) => d.feed(sampleOf(0, at(d, 100))), phase: 'idle', kinds: REFUSED, code: 'NO_OPERATOR' },
  'verified: expired badge, then the cylinder taken away → refused CERTIFICATE_EXPIRED': {
    from: toVerified, act: (d) => (d.feed(badge({ ...filler, certificateValid: false })), d.feed(sampleOf(0, at(d, 100)))), phase: 'idle', kinds: REFUSED, code: 'CERTIFICATE_EXPIRED',
  },
  'verified: filler has an open attempt at another post → FILLER_AT_OTHER_POST, still verified': {
    from: toVerified, act: (d) => d.feed(badge({ ...filler, busyAt: 'P2' })), phase: 'verified', kinds: ['display'], code: 'FILLER_AT_OTHER_POST',
  },
  'verified: another cylinder put on before the badge (0.3 kg lighter) → refused CYLINDER_SWAPPED': {
    from: toVerified, act: (d) => settleOn(d, 17.2), phase: 'idle', kinds: REFUSED, code: 'CYLINDER_SWAPPED', outcome: 'refused',
  },
  'verified: a moving weight at the badge waits': {
    from: toVerified,
    act: (d) => {
      d.feed(sampleOf(17.8, at(d, 100), false));
      return d.feed(badge(filler));
    },
    // The filler's badge is journalled (issue 13 point 1) even while the post waits for a still weight.
    phase: 'verified', kinds: ['markInProgress'],
  },
  'verified: pre-fill check exception → refused': { from: toVerified, act: (d) => d.feed(badge(filler, undefined, [{ item: 'valve', ok: false, note: 'bent' }])), phase: 'idle', kinds: REFUSED, code: 'PRE_FILL_CHECK_FAILED' },
  'verified: weight does not fit the tare → refused (pocket code)': {
    from: () => {
      const d = toIdentified();
      d.feed({ kind: 'verified', attemptId: 'A1', cylinder: { ...cylinder, tareKg: 12 } });
      return d;
    },
    act: (d) => d.feed(badge(filler)),
    phase: 'idle', kinds: REFUSED, code: 'POCKET_CODE_WEIGHT',
  },
  'verified: cylinder already full → refused': {
    from: () => {
      const d = new Driver();
      settled(d, 31.28);
      d.feed(cylinderCode('C1', d.t, 'A1'));
      d.feed({ kind: 'verified', attemptId: 'A1', cylinder: { ...cylinder, residualKg: 14.8 } });
      return d;
    },
    act: (d) => d.feed(badge(filler)), phase: 'idle', kinds: REFUSED, code: 'ALREADY_FULL',
  },
  'verified: waiting for a stable weight': {
    from: () => {
      const d = toVerified();
      d.feed(sampleOf(17.5, at(d, 100), false));
      return d;
    },
    act: (d) => d.feed(badge(filler)), phase: 'verified', kinds: ['markInProgress'],
  },
  'verified: station lock → refused': { from: toVerified, act: (d) => d.feed({ kind: 'stationLock', lock: 'upload', active: true }), phase: 'idle', kinds: REFUSED, code: 'STATION_LOCKED_UPLOAD' },
  'verified: stop → aborted': { from: toVerified, act: (d) => d.feed({ kind: 'stop' }), phase: 'aborted', kinds: ['record', 'status'], code: 'OPERATOR_STOP' },
  // cylinderReady
  'ready: start → journal, then open': { from: toReady, act: (d) => d.feed({ kind: 'start' }), phase: 'filling', kinds: ['markInProgress', 'openValve', 'status'] },
  'ready: start on a stale weight is held': { from: toReady, act: (d) => (at(d, 1000), d.feed({ kind: 'start' })), phase: 'cylinderReady', kinds: ['display'], code: 'DEVICE_OFFLINE' },
  'ready: start on an overloaded scale is held': { from: toReady, act: (d) => (d.feed(sampleOf(99, at(d, 100), false, true)), d.feed({ kind: 'start' })), phase: 'cylinderReady', kinds: ['display'], code: 'SCALE_OVERLOAD' },
  'ready: cylinder lifted → aborted': { from: toReady, act: (d) => d.feed(sampleOf(0, at(d, 100))), phase: 'aborted', kinds: ['record', 'display', 'status'], code: 'NO_CYLINDER_ON_SCALE' },
  'ready: another cylinder put on between badge and start → refused CYLINDER_SWAPPED': { from: toReady, act: (d) => d.feed(sampleOf(17.8, at(d, 100))), phase: 'idle', kinds: REFUSED, code: 'CYLINDER_SWAPPED' },
  'ready: start while the weight is off the scan weight and moving → held': {
    from: toReady, act: (d) => (d.feed(sampleOf(17.8, at(d, 100), false)), d.feed({ kind: 'start' })), phase: 'cylinderReady', kinds: ['display'], code: 'WEIGHT_NOT_STABLE',
  },
  "ready: the filler's badge session lapsed → back to verified, badge again": { from: toReady, act: (d) => d.feed({ kind: 'badgeLapsed' }), phase: 'verified', kinds: ['display', 'status'], code: 'BADGE_TIMEOUT' },
  'ready: autoStart opens on a stable weight': { from: () => toReady(makeConfig({ autoStart: true })), act: (d) => d.feed(sampleOf(17.5, at(d, 100))), phase: 'filling', kinds: ['markInProgress', 'openValve', 'status'] },
  'ready: without autoStart a stable weight does not open': { from: toReady, act: (d) => d.feed(sampleOf(17.5, at(d, 100))), phase: 'cylinderReady', kinds: [] },
  'ready: leak alarm → refused': { from: toReady, act: (d) => d.feed({ kind: 'leakAlarm', active: true }), phase: 'idle', kinds: REFUSED, code: 'STATION_LOCKED_LEAK' },
  'ready: stop → aborted': { from: toReady, act: (d) => d.feed({ kind: 'stop' }), phase: 'aborted', kinds: ['record', 'status'], code: 'OPERATOR_STOP' },
  // filling: every trip
  'filling: gross ≥ tare + allowed → OVERFILL': { from: toFilling, act: (d) => d.feed(sampleOf(16.5 + 14.9, at(d, 100))), phase: 'fault', kinds: TRIP, code: 'OVERFILL' },
  'filling: no sample for 3 polls → STALE_WEIGHT': { from: toFilling, act: (d) => (at(d, 300), d.feed({ kind: 'tick' })), phase: 'fault', kinds: TRIP, code: 'STALE_WEIGHT' },
  'filling: weight drops → WEIGHT_DROP': { from: toFilling, act: (d) => d.feed(sampleOf(16.0, at(d, 100))), phase: 'fault', kinds: TRIP, code: 'WEIGHT_DROP' },
  'filling: weight not rising → NO_FLOW': {
    from: toFilling,
    act: (d) => {
      const g = d.state.ctx.last!.grossKg;
      d.run(4500, () => g, () => d.phase !== 'filling');
      return d.last;
    },
    phase: 'fault', kinds: TRIP, code: 'NO_FLOW',
  },
  'filling: a heavier cylinder swapped in (a step faster than flow) → CYLINDER_SWAPPED': {
    from: toFilling, act: (d) => d.feed(sampleOf(grossOf(d) + 0.4, at(d, 100))), phase: 'fault', kinds: TRIP, code: 'CYLINDER_SWAPPED', outcome: 'tripped',
  },
  'filling: a lighter cylinder swapped in (0.3 kg below the highest) → CYLINDER_SWAPPED': {
    from: toFilling, act: (d) => d.feed(sampleOf(grossOf(d) - 0.3, at(d, 100))), phase: 'fault', kinds: TRIP, code: 'CYLINDER_SWAPPED',
  },
  'filling: the badge session lapsing does not stop the fill': { from: toFilling, act: (d) => d.feed({ kind: 'badgeLapsed' }), phase: 'filling', kinds: [] },
  'filling: maximum duration → MAX_DURATION': { from: () => toFilling(makeConfig({ maxFillMs: 1500 })), act: (d) => (d.run(1000, undefined, () => d.phase !== 'filling'), d.last), phase: 'fault', kinds: TRIP, code: 'MAX_DURATION' },
  'filling: leak alarm → LEAK_ALARM': { from: toFilling, act: (d) => d.feed({ kind: 'leakAlarm', active: true }), phase: 'fault', kinds: TRIP, code: 'LEAK_ALARM' },
  'filling: station lock → STATION_LOCK': { from: toFilling, act: (d) => d.feed({ kind: 'stationLock', lock: 'store', active: true }), phase: 'fault', kinds: TRIP, code: 'STATION_LOCK' },
  'filling: valve feedback mismatch → VALVE_FEEDBACK': { from: toFilling, act: (d) => d.feed({ kind: 'valveMismatch', detail: 'feedback closed' }), phase: 'fault', kinds: TRIP, code: 'VALVE_FEEDBACK' },
  'filling: valve reports closed → VALVE_FEEDBACK': { from: toFilling, act: (d) => d.feed({ kind: 'valveClosed' }), phase: 'fault', kinds: TRIP, code: 'VALVE_FEEDBACK' },
  'filling: valve fault → VALVE_FAULT': { from: toFilling, act: (d) => d.feed({ kind: 'valveFault' }), phase: 'fault', kinds: TRIP, code: 'VALVE_FAULT' },
  'filling: setpoint not confirmed → SETPOINT_LIMIT': { from: toFilling, act: (d) => d.feed({ kind: 'limitFault', detail: 'read back 50 kg' }), phase: 'fault', kinds: TRIP, code: 'SETPOINT_LIMIT' },
  'cutOff: a late setpoint failure changes nothing': { from: toCutOff, act: (d) => d.feed({ kind: 'limitFault' }), phase: 'cutOff', kinds: [] },
  'filling: scale overload → SCALE_OVERLOAD': { from: toFilling, act: (d) => d.feed(sampleOf(99, at(d, 100), false, true)), phase: 'fault', kinds: TRIP, code: 'SCALE_OVERLOAD' },
  'filling: operator stop → aborted': { from: toFilling, act: (d) => d.feed({ kind: 'stop' }), phase: 'aborted', kinds: TRIP, code: 'OPERATOR_STOP' },
  'filling: an unexpected input (reset) closes the valve': { from: toFilling, act: (d) => d.feed({ kind: 'reset' }), phase: 'fault', kinds: TRIP, code: 'UNEXPECTED_INPUT' },
  'filling: a second verify answer for this attempt closes the valve': { from: toFilling, act: (d) => d.feed({ kind: 'verified', attemptId: 'A1', cylinder: other() }), phase: 'fault', kinds: TRIP, code: 'UNEXPECTED_INPUT' },
  'filling: next cylinder scanned → refused on its own record, fill goes on': { from: toFilling, act: (d) => d.feed(cylinderCode('C2')), phase: 'filling', kinds: ['record', 'display'], code: 'PREVIOUS_NOT_CLOSED_OUT' },
  'filling: valve confirmation is expected': { from: toFilling, act: (d) => d.feed({ kind: 'valveOpened' }), phase: 'filling', kinds: [] },
  'filling: a sample at the cut-off closes (TARGET)': { from: toFilling, act: (d) => d.feed(sampleOf(31.25, at(d, 30_000))), phase: 'cutOff', kinds: ['closeValve', 'markInProgress', 'status'], code: 'TARGET' },
  // toppingUp
  'toppingUp: pulse over → closed (TOP_UP_END) or target reached': { from: toToppingUp, act: (d) => (d.run(2000, undefined, () => d.phase !== 'toppingUp'), d.last), phase: 'cutOff', kinds: ['closeValve', 'markInProgress', 'status'], code: 'TOP_UP_END' },
  'toppingUp: hard limit still applies → OVERFILL': { from: toToppingUp, act: (d) => d.feed(sampleOf(31.4, at(d, 20))), phase: 'fault', kinds: TRIP, code: 'OVERFILL' },
  'toppingUp: stop → aborted': { from: toToppingUp, act: (d) => d.feed({ kind: 'stop' }), phase: 'aborted', kinds: TRIP, code: 'OPERATOR_STOP' },
  // cutOff
  'cutOff: gas in flight done → settling': { from: toCutOff, act: (d) => (at(d, 400), d.feed({ kind: 'tick' })), phase: 'settling', kinds: ['status'] },
  'cutOff: late open confirmation → close again': { from: toCutOff, act: (d) => d.feed({ kind: 'valveOpened' }), phase: 'cutOff', kinds: ['closeValve'] },
  'cutOff: valve fails to close (mismatch) → fault with the record': { from: toCutOff, act: (d) => d.feed({ kind: 'valveMismatch', detail: 'still open' }), phase: 'fault', kinds: ['closeValve', 'record', 'clearInProgress', 'status'], code: 'VALVE_FEEDBACK' },
  'cutOff: valve fault → fault': { from: toCutOff, act: (d) => d.feed({ kind: 'valveFault' }), phase: 'fault', kinds: ['closeValve', 'record', 'clearInProgress', 'status'], code: 'VALVE_FAULT' },
  'cutOff: stop is ignored (valve already closed)': { from: toCutOff, act: (d) => d.feed({ kind: 'stop' }), phase: 'cutOff', kinds: [] },
  // settling
  'settling: stable weight → checked, preact learned': { from: toSettling, act: (d) => (d.run(2000, undefined, () => d.phase !== 'settling'), d.last), phase: 'checked', kinds: ['learnPreact', 'learnTiming', 'markInProgress', 'status'] },
  // Settled without stable readings: no valve timing is learned from it (and no top-up opens).
  'settling: never stable → checked on timeout': { from: toSettling, act: (d) => (at(d, 10_000), d.feed({ kind: 'tick' })), phase: 'checked', kinds: ['learnPreact', 'markInProgress', 'status'] },
  'settling: lifted before stable → checked on what was read': { from: toSettling, act: (d) => (d.feed(sampleOf(31.2, at(d, 100), false)), d.feed(sampleOf(0, at(d, 100)))), phase: 'checked', kinds: ['learnPreact', 'markInProgress', 'status'] },
  'settling: valve mismatch after close → fault with the record': { from: toSettling, act: (d) => d.feed({ kind: 'valveMismatch' }), phase: 'fault', kinds: ['closeValve', 'record', 'clearInProgress', 'status'], code: 'VALVE_FEEDBACK' },
  // checked
  "checked: checker's badge → reweighed": { from: toChecked, act: (d) => d.feed(badge(checker)), phase: 'reweighed', kinds: ['markInProgress', 'status'] },
  'checked: the filler may not check': { from: toChecked, act: (d) => d.feed(badge(filler)), phase: 'checked', kinds: ['display'], code: 'CHECKER_IS_FILLER' },
  'checked: badge without the checker role': { from: toChecked, act: (d) => d.feed(badge({ ...checker, roles: ['filler'] })), phase: 'checked', kinds: ['display'], code: 'OPERATOR_NOT_CHECKER' },
  // Issue 10 point 1: this row used to accept a `filled` record without checker or post-fill check.
  'checked: lifted before the checker came → filled_unchecked, alarm': {
    from: toChecked, act: (d) => d.feed(sampleOf(0, at(d, 100))), phase: 'closedOut', kinds: ALARM, code: 'LEFT_UNCHECKED', outcome: 'filled_unchecked', fields: { postFillCheckMissing: true },
  },
  'checked: check not required by config → tolerance outcome, still flagged and alarmed': {
    from: () => toChecked(makeConfig({ postFillCheckRequired: false })), act: (d) => d.feed(sampleOf(0, at(d, 100))), phase: 'closedOut', kinds: ALARM, code: 'LEFT_UNCHECKED', outcome: 'filled', fields: { postFillCheckMissing: true },
  },
  "checked: the filler's second card (same certificate) may not check": {
    from: toChecked, act: (d) => d.feed(badge(fillerSecondCard)), phase: 'checked', kinds: ['display'], code: 'CHECKER_IS_FILLER',
  },
  'ready: weight rises before the open, valve closed → UNAUTHORISED_FILL, post locked': {
    from: toReady, act: (d) => ramp(d, grossOf(d), 0.05, 15), phase: 'fault', kinds: UNAUTH, code: 'UNAUTHORISED_FILL', outcome: 'unauthorised_fill',
  },
  'checked: next cylinder scanned → refused': { from: toChecked, act: (d) => d.feed(cylinderCode('C2')), phase: 'checked', kinds: ['record', 'display'], code: 'PREVIOUS_NOT_CLOSED_OUT' },
  'checked (check scale): stable re-weigh after the badge → reweighed': {
    from: () => {
      const d = toChecked(makeConfig({ checkScale: true }));
      d.feed(badge(checker));
      return d;
    },
    act: (d) => d.feed(checkweigh(31.26, at(d, 100))), phase: 'reweighed', kinds: ['markInProgress', 'status'],
  },
  'checked (check scale): another cylinder on the check scale is ignored': {
    from: () => toChecked(makeConfig({ checkScale: true })),
    act: (d) => d.feed({ ...(checkweigh(25, at(d, 100)) as Extract<Parameters<Driver['feed']>[0], { kind: 'checkweigh' }>), code: 'C7' }), phase: 'checked', kinds: [],
  },
  // reweighed
  'reweighed: removed → closedOut with the record': { from: toReweighed, act: (d) => d.feed(sampleOf(0.02, at(d, 100))), phase: 'closedOut', kinds: ['record', 'clearInProgress', 'status'] },
  'reweighed: tick changes nothing': { from: toReweighed, act: (d) => (at(d, 60_000), d.feed({ kind: 'tick' })), phase: 'reweighed', kinds: [] },
  'checked (check scale): re-weighed, then taken off the check scale unsigned → filled_unchecked, alarm': {
    from: () => {
      const d = toChecked(makeConfig({ checkScale: true }));
      d.feed(checkweigh(31.26, at(d, 100)));
      return d;
    },
    act: (d) => d.feed(checkweigh(0, at(d, 100))), phase: 'closedOut', kinds: ALARM, code: 'LEFT_UNCHECKED', outcome: 'filled_unchecked',
  },
  'reweighed (check scale): removed from the check scale → closedOut': {
    from: () => {
      const d = toChecked(makeConfig({ checkScale: true }));
      d.feed(badge(checker));
      d.feed(checkweigh(31.26, at(d, 100)));
      return d;
    },
    act: (d) => d.feed(checkweigh(0, at(d, 100))), phase: 'closedOut', kinds: ['record', 'clearInProgress', 'status'],
  },
  // fault and aborted
  'fault: reset → idle': { from: toFault, act: (d) => d.feed({ kind: 'reset' }), phase: 'idle', kinds: ['status'] },
  'fault: reset while the leak alarm is on is refused': {
    from: () => {
      const d = toFilling();
      d.feed({ kind: 'leakAlarm', active: true });
      return d;
    },
    act: (d) => d.feed({ kind: 'reset' }), phase: 'fault', kinds: ['display'], code: 'STATION_LOCKED_LEAK',
  },
  'fault: a code is refused': { from: toFault, act: (d) => d.feed(cylinderCode('C2')), phase: 'fault', kinds: ['record', 'display'], code: 'POST_IN_FAULT' },
  'fault: valve reports open → close again': { from: toFault, act: (d) => d.feed({ kind: 'valveOpened' }), phase: 'fault', kinds: ['closeValve'] },
  'aborted after a stop mid-fill: scan refused until the cylinder is lifted': {
    from: () => {
      const d = toFilling();
      d.feed({ kind: 'stop' });
      return d;
    },
    act: (d) => d.feed(cylinderCode('C2')), phase: 'aborted', kinds: ['record', 'display'], code: 'PREVIOUS_NOT_CLOSED_OUT',
  },
};

for (const [name, row] of Object.entries(rows)) {
  test(name, () => {
    const d = row.from();
    const step = row.act(d);
    assert.is(d.phase, row.phase, 'phase');
    assert.equal(step.commands.map((c) => c.kind), row.kinds, 'command kinds');
    if (row.code) assert.ok(find(step.commands, row.code), `expected ${row.code} in ${JSON.stringify(step.commands)}`);
    const rec = step.commands.find((c) => c.kind === 'record');
    if (row.outcome) assert.is(rec?.kind === 'record' ? rec.attempt.outcome : undefined, row.outcome, 'outcome');
    for (const [k, v] of Object.entries(row.fields ?? {})) assert.equal(rec?.kind === 'record' ? (rec.attempt as unknown as Record<string, unknown>)[k] : undefined, v, k);
    if (d.phase !== 'filling' && d.phase !== 'toppingUp') assert.not.ok(d.valveOpen, 'valve closed outside filling/toppingUp');
  });
}

test('every phase kind is covered by the table', () => {
  const seen = new Set<string>();
  for (const row of Object.values(rows)) seen.add(row.from().phase);
  for (const k of ['idle', 'identified', 'verified', 'cylinderReady', 'filling', 'toppingUp', 'cutOff', 'settling', 'checked', 'reweighed', 'closedOut', 'aborted', 'fault']) {
    assert.ok(seen.has(k), `no row starts in ${k}`);
  }
});

test.run();
