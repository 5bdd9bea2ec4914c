/**
 * One time offset per station (issue 13 point 6): on a PC whose zone is UTC and with no
 * records.utcOffsetMinutes, every time in a record carries the same offset (the PC's,
 * resolved once at start): the controller's startedAt/endedAt and trips, the store's
 * recordedAt. Before, the controller defaulted to +08:00 and the store to the PC's zone.
 */
process.env.TZ = 'UTC';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, type Rig } from './rig.ts';

let rig: Rig;

test.before(async () => {
  rig = await startRig({ tweak: (c) => delete (c.records as { utcOffsetMinutes?: number }).utcOffsetMinutes });
});
test.after(async () => rig?.close());

test('TZ=UTC, no configured offset: a refused attempt carries +00:00 in every time it has', async () => {
  assert.is(new Date(0).getTimezoneOffset(), 0, 'the test runs in UTC');
  rig.sim.place('P1', 'E2000017A1B20008');
  rig.sim.scan('P1', 'E2000017A1B20008'); // inspection overdue: refused
  await rig.until('a record for the overdue cylinder', () => rig.records.find((r) => r.cylinderCode === 'E2000017A1B20008'));
  const row = rig.station.store.db.prepare('SELECT body FROM records ORDER BY seq DESC LIMIT 1').get() as { body: string };
  const rec = JSON.parse(row.body) as Record<string, unknown>;
  const times = [rec.recordedAt, rec.startedAt, rec.endedAt] as string[];
  for (const t of times) assert.ok(t.endsWith('+00:00'), `${t} in ${JSON.stringify(times)}`);
  assert.is(rig.station.utcOffsetMinutes, 0, 'the station says which offset it uses');
});

test.run();
