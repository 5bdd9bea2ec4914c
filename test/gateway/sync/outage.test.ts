/**
 * Issue 5 §5: an outage with a large backlog. 20,000 records here so the
 * file stays inside the 60 s budget on a loaded 2-core machine; the
 * 100,000-record run is in the benchmark (test/bench/records.ts), which
 * makes the same checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyRecords, formatVerifyReport } from '../../../gateway/records/verify.ts';
import { makeKeys, tempDir } from '../records/fixtures.ts';
import { receivedChainProblems } from './helpers/check.ts';
import { runOutage } from './helpers/outage.ts';

test('an outage of 20,000 records: the backlog drains, each record once and in order, both chains verify', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const keys = makeKeys();
    const N = 20_000;
    const r = await runOutage({ dir, keys, records: N });
    console.log(`  outage ${N}: append ${r.appendPerSec.toFixed(0)}/s, catch-up ${r.catchUpPerSec.toFixed(0)} records/s (${(r.catchUpMs / 1000).toFixed(1)} s)`);
    assert.ok(r.failuresDuringOutage > 0, 'the uploader kept trying during the outage');
    assert.ok(r.oldestAgeAtRecoveryMs > 0, 'the backlog age was known');
    assert.equal(receivedChainProblems(`${dir}/rx.db`, 'ST01', N, keys.publicKey), []);
    const local = verifyRecords(`${dir}/gw.db`, keys.publicKey);
    assert.ok(local.ok, formatVerifyReport(local));
    assert.is(local.checked, N);
  } finally {
    cleanup();
  }
});

test.run();
