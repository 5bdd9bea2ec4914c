/**
 * The kill soak, short (issue 13 "Done when"; the 30-kill run is `npm run bench -- kill-soak`):
 * 8 SIGKILLs of the child-process gateway at seeded random moments of continuous fills at 2 posts,
 * the relay's 2 s watchdog ON. One record per scanned attempt, every interrupted record with the
 * masses known at the kill, every overfilled cylinder recorded, quarantined and alarmed, the chain
 * verifies (test/e2e/kill-soak.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatKillSoak, runKillSoak } from './kill-soak.ts';

test('8 SIGKILLs during continuous fills at 2 posts: nothing lost, nothing unsaid, overfills held', async () => {
  const r = await runKillSoak({ seed: Number(process.env.KILL_SOAK_SEED ?? 813), kills: 8, runMinMs: 4000, runSpreadMs: 6000 });
  console.log(formatKillSoak(r));
  assert.is(r.kills, 8);
  assert.ok(r.attempts >= 8, `attempts ${r.attempts}`);
  assert.equal(r.problems, []);
  assert.is(r.records, r.attempts);
  assert.is(r.overfillsQuarantined, r.overfills);
  assert.is(r.overfillsAlarmed, r.overfills);
  assert.ok(r.chainOk);
});

test.run();
