/**
 * The receiver's event chain (issue 10 point 6): verified against the registered station
 * key and its own chain, stored exactly once, duplicates answered, forged or altered events
 * rejected with a reason, gaps reported; the event uploader marks an event sent only on
 * the receiver's answer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startReceiver, type RunningReceiver } from '../../../gateway/receiver/server.ts';
import { EventLog } from '../../../gateway/records/events.ts';
import type { StationEventV1 } from '../../../gateway/records/event.ts';
import { EventUploader, eventsUrlFor } from '../../../gateway/sync/event-uploader.ts';
import { ManualClock } from '../../../protocols/clock.ts';
import { makeKeys, type Keys } from '../records/fixtures.ts';

const running: RunningReceiver[] = [];
async function start(keys: Keys): Promise<RunningReceiver> {
  const rx = await startReceiver({ dbPath: ':memory:', stations: { ST01: keys.publicKeyPem }, verifyThreads: 0 });
  running.push(rx);
  return rx;
}
test.after.each(async () => {
  for (const rx of running.splice(0)) await rx.close().catch(() => {});
});

function eventLog(keys: Keys) {
  const clock = new ManualClock(0, Date.UTC(2026, 2, 1));
  return { log: new EventLog({ db: ':memory:', clock, station: 'ST01', privateKey: keys.privateKey }), clock };
}

function chain(keys: Keys, n: number): StationEventV1[] {
  const { log } = eventLog(keys);
  const out: StationEventV1[] = [];
  for (let i = 1; i <= n; i++) out.push(log.append({ kind: i % 2 ? 'alarm.raised' : 'alarm.cleared', subject: 'ld-P1', data: { level: 1 } }));
  log.close();
  return out;
}

async function post(rx: RunningReceiver, events: unknown[]) {
  const res = await fetch(`${rx.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
  assert.is(res.status, 200);
  return ((await res.json()) as { results: { status: string; reason?: string; gap?: { from: number; to: number }; retryable?: boolean }[] }).results;
}

test('accepts an event chain once; a resend is duplicate; forged, altered and unknown-station events are refused with a reason', async () => {
  const keys = makeKeys();
  const evs = chain(keys, 4);
  const rx = await start(keys);
  assert.equal((await post(rx, evs.slice(0, 2))).map((r) => r.status), ['accepted', 'accepted']);
  assert.equal((await post(rx, evs.slice(0, 3))).map((r) => r.status), ['duplicate', 'duplicate', 'accepted']);
  const altered = { ...evs[3], kind: 'alarm.raised' };
  const r = await post(rx, [altered]);
  assert.is(r[0].status, 'rejected');
  assert.is(r[0].reason, 'BAD_SIGNATURE');
  const other = chain(makeKeys(), 4);
  assert.is((await post(rx, [other[3]]))[0].reason, 'BAD_SIGNATURE', 'signed by another key');
  assert.is((await post(rx, [{ ...evs[3], station: 'NOPE' }]))[0].reason, 'UNKNOWN_STATION');
  assert.is((await post(rx, [{ ...evs[3], type: undefined }]))[0].reason, 'BAD_FORMAT', 'a fill record is not an event');
  const rep = (await rx.events.report('ST01'));
  assert.is(rep.accepted, 3);
  assert.is(rep.rejected >= 3, true);
  assert.equal(rep.byKind, { 'alarm.cleared': 1, 'alarm.raised': 2 });
});

test('a gap in the event chain is reported and filled when the original arrives; a fork is a conflict', async () => {
  const keys = makeKeys();
  const evs = chain(keys, 5);
  const rx = await start(keys);
  await post(rx, evs.slice(0, 2));
  const r = await post(rx, [evs[4]]);
  assert.is(r[0].status, 'accepted');
  assert.equal(r[0].gap, { from: 3, to: 4 });
  assert.equal((await rx.events.report('ST01')).gaps, [{ from: 3, to: 4 }]);
  const fork = chain(keys, 3)[2]; // another chain's seq 3: does not link to the stored seq 2
  assert.is((await post(rx, [fork]))[0].reason, 'BROKEN_CHAIN');
  assert.equal((await post(rx, [evs[2], evs[3]])).map((x) => x.status), ['accepted', 'accepted']);
  assert.equal((await rx.events.report('ST01')).gaps, []);
  const res = await fetch(`${rx.url}/v1/stations/ST01/events?kind=alarm.raised`);
  const body = (await res.json()) as { events: StationEventV1[]; report: { accepted: number } };
  assert.is(body.report.accepted, 5);
  assert.equal(body.events.map((e) => e.seq), [1, 3, 5]);
});

test('the event uploader sends in order, marks events sent only on the answer, and resending is harmless', async () => {
  assert.is(eventsUrlFor('http://127.0.0.1:8443/v1/records'), 'http://127.0.0.1:8443/v1/events');
  const keys = makeKeys();
  const { log } = eventLog(keys);
  for (let i = 0; i < 7; i++) log.append({ kind: 'latch.set', subject: `post:P${i}` });
  const down = new EventUploader({ log, clock: new ManualClock(), config: { url: 'http://127.0.0.1:9/v1/records', timeoutMs: 2000 } });
  assert.is((await down.uploadOnce()).kind, 'failed');
  assert.is(log.counts().pending, 7, 'nothing marked sent without an answer');
  const rx = await start(keys);
  const up = new EventUploader({ log, clock: new ManualClock(), config: { url: `${rx.url}/v1/records`, batchSize: 3 } });
  for (let i = 0; i < 3; i++) await up.uploadOnce();
  assert.is(log.counts().acked, 7);
  assert.is((await rx.events.report('ST01')).lastSeq, 7);
  // The receiver's answer was lost: the station resends, the receiver answers duplicate, still one copy.
  log.db.prepare('UPDATE events SET status = 0').run();
  await up.uploadOnce();
  assert.is(up.stats.duplicates, 3);
  assert.is((await rx.events.report('ST01')).accepted, 7);
  log.close();
});

test.run();
