/**
 * `fillgate start`'s outcome lines (issue 12 point 8): one per record (fill,
 * refusal, trip) and one per fault outside an attempt; the demo's pretty line
 * on a terminal, a JSON log line with the codes otherwise.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Signal } from '../../protocols/signal.ts';
import { reportOutcomes } from '../../gateway/cli/outcome-line.ts';
import type { FillAttempt } from '../../gateway/records/types.ts';

const refused = { post: 'P2', attemptId: 'a1', cylinderCode: 'E2000017A1B20010', model: 'YSP12', outcome: 'refused', refusals: [{ code: 'SCRAPPED' }], trips: [] } as unknown as FillAttempt;
const tripped = { post: 'P1', attemptId: 'a2', cylinderCode: 'E2000017A1B20002', model: 'YSP12', outcome: 'tripped', refusals: [], trips: [{ code: 'NO_FLOW', at: '' }], netFilledKg: 0.4 } as unknown as FillAttempt;

function rig(pretty: boolean) {
  const events = new Signal<{ kind: string; post: string; attempt?: FillAttempt; phase?: string; reason?: string; attemptId?: string }>();
  const printed: string[] = [];
  const logged: { fields: Record<string, unknown>; msg: string }[] = [];
  reportOutcomes(events, { pretty, lang: 'en', print: (l) => printed.push(l), log: (fields, msg) => logged.push({ fields, msg }) });
  events.emit({ kind: 'record', post: 'P2', attempt: refused });
  events.emit({ kind: 'record', post: 'P1', attempt: tripped });
  events.emit({ kind: 'phase', post: 'P1', phase: 'fault', reason: 'NO_FLOW', attemptId: 'a2' }); // reported by its record
  events.emit({ kind: 'phase', post: 'P2', phase: 'fault', reason: 'VALVE_FEEDBACK' });
  events.emit({ kind: 'phase', post: 'P2', phase: 'idle' });
  return { printed, logged };
}

test('on a terminal: one pretty line per refusal, trip and unrecorded fault', () => {
  const { printed, logged } = rig(true);
  assert.is(logged.length, 0);
  assert.is(printed.length, 3, printed.join('\n'));
  assert.match(printed[0], /^P2\s+E2000017A1B20010\s+YSP12\s+REFUSED\s+SCRAPPED /);
  assert.match(printed[1], /^P1\s+E2000017A1B20002\s+YSP12\s+TRIPPED\s+.*trip NO_FLOW/);
  assert.match(printed[2], /^P2\s+FAULT\s+VALVE_FEEDBACK /);
});

test('not a terminal: the same three as JSON log lines with the codes', () => {
  const { printed, logged } = rig(false);
  assert.is(printed.length, 0);
  assert.equal(logged.map((l) => l.fields.outcome), ['refused', 'tripped', 'fault']);
  assert.equal(logged[0].fields.refusals, ['SCRAPPED']);
  assert.equal(logged[1].fields.trips, ['NO_FLOW']);
  assert.match(logged[0].msg, /^P2 E2000017A1B20010 YSP12 REFUSED SCRAPPED/);
});

test.run();
