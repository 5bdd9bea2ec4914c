/**
 * Rules of ../shared/domain.md §1 that had tests covering them but none named after them
 * (docs/compliance.md): each test here is named after its rule and fails when it is broken.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Driver, badge, cylinderCode, filler, sampleOf, toIdentified, toReady, toVerified } from './controller-support.ts';

const opened = (d: Driver) => d.all.some((c) => c.kind === 'openValve');

test('对码开启充装枪 (seed 002 item 49): the fill valve opens only after the scanned code was verified and a filler badged in; start, badge or weight before that never open it', () => {
  const idle = new Driver();
  idle.feed(sampleOf(17.1, (idle.t += 100)));
  idle.feed({ kind: 'start' });
  idle.feed(badge(filler));
  idle.feed({ kind: 'start' });
  assert.not.ok(opened(idle), 'no scan: never opened');
  assert.is(idle.phase, 'idle');

  const identified = toIdentified(); // scanned, the registry has not answered
  identified.feed(badge(filler));
  identified.feed({ kind: 'start' });
  assert.not.ok(opened(identified), 'scanned but not verified: never opened');

  const verified = toVerified(); // verified, nobody badged in
  verified.feed({ kind: 'start' });
  assert.not.ok(opened(verified), 'verified without a filler: never opened');

  const ready = toReady(); // scanned, verified, filler badged in
  assert.not.ok(opened(ready));
  ready.feed({ kind: 'start' });
  assert.ok(opened(ready), 'opens only now');
  assert.is(ready.phase, 'filling');
});

test('一瓶一码 (seeds 000, 001, 003): a second code scanned during a fill is refused on its own record and never opens the valve for it', () => {
  const ready = toReady();
  ready.feed({ kind: 'start' });
  const opens = ready.all.filter((c) => c.kind === 'openValve').length;
  const step = ready.feed(cylinderCode('C2'));
  const rec = step.commands.find((c) => c.kind === 'record');
  assert.ok(rec && rec.kind === 'record' && rec.attempt.cylinderCode === 'C2' && rec.attempt.outcome === 'refused', JSON.stringify(step.commands));
  assert.is(ready.all.filter((c) => c.kind === 'openValve').length, opens, 'no second open');
});

test.run();
