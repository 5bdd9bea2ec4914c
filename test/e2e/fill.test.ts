import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, beginFill, type Rig } from './rig.ts';

let rig: Rig;
test.before(async () => {
  rig = await startRig({ stationTweak: (doc) => doc.posts.forEach((p: { flowKgPerMin: number }) => (p.flowKgPerMin = 30)) });
});
test.after(async () => {
  await rig?.close();
});

test('a normal fill over Modbus TCP: scan, badge, start, cut-off, re-weigh on the check scale, checker, close-out', async () => {
  const code = 'E2000017A1B20004'; // YSP35.5, allowed 14.9 kg
  await beginFill(rig, 'P1', code);
  await rig.until('cylinder ready', () => rig.phase('P1') === 'cylinderReady');
  rig.sim.press('P1', 'start');
  await rig.until('filling', () => rig.phase('P1') === 'filling');
  await rig.until('checked', () => rig.phase('P1') === 'checked' || rig.phase('P1') === 'fault', 90_000);
  assert.is(rig.phase('P1'), 'checked', JSON.stringify(rig.records.at(-1)));
  const sim = rig.sim.state().posts.find((p) => p.id === 'P1')!;
  rig.sim.toCheck('P1');
  rig.sim.badge('P1', 'B1002');
  await rig.until('re-weighed', () => rig.phase('P1') === 'reweighed');
  rig.sim.removeCheck();
  const rec = await rig.until('record', () => rig.records.find((r) => r.cylinderCode === code));
  assert.is(rec.outcome, 'filled');
  assert.is(rec.filler?.badge, 'B1001');
  assert.is(rec.checker?.badge, 'B1002');
  assert.ok(rec.reweighedGrossKg !== undefined && Math.abs(rec.reweighedGrossKg - (16.5 + 14.8)) < 0.15, `reweighed ${rec.reweighedGrossKg}`);
  assert.ok(Math.abs(rec.deviationKg ?? 9) <= 0.1, `deviation ${rec.deviationKg}`);
  // The simulator's true gas never exceeded the allowed mass.
  assert.ok((sim.cylinder?.gasKg ?? 0) <= 14.9, `true gas ${sim.cylinder?.gasKg}`);
});

test.run();
