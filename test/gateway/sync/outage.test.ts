/**
 * Issue 5 §5: an outage covering 100,000 records (one to two minutes on a 2-core
 * machine; the test runner allows each file 5 minutes). The benchmark
 * (test/bench/records.ts) prints the catch-up rate; here only the outcome is
 * asserted: every record once, in order, both chains verify.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { verifyRecords, formatVerifyReport } from '../../../gateway/records/verify.ts';
import { makeKeys, tempDir } from '../records/fixtures.ts';
import { receivedChainProblems } from './helpers/check.ts';
import { runOutage } from './helpers/outage.ts';

test('an outage of 100,000 records: the backlog drains, each record once and in order, both chains verify', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const keys = makeKeys();
    const N = 100_000;
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
