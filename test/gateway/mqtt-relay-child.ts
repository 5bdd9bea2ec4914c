/**
 * A gateway process for the relay tests: opens the outbox database, starts the relay to
 * the given upstream, and enqueues records seq = from..to (every 25th an alarm) in bursts that
 * share a group commit, printing `enq <last seq>` after each commit. The test SIGKILLs it mid-run and starts it again.
 * Usage: node --import tsx mqtt-relay-child.ts <db> <upstreamUrl> <from> <to> <intervalMs> <protocolVersion>
 */
import Database from '../../gateway/sqlite.ts';
import { Outbox } from '../../gateway/mqtt/outbox.ts';
import { UpstreamRelay } from '../../gateway/mqtt/relay.ts';
import { systemClock } from '../../protocols/clock.ts';

const [dbPath, url, fromText, toText, intervalText, pv] = process.argv.slice(2);
const db = new Database(dbPath);
const outbox = new Outbox(db, { telemetryCap: 1000, clock: systemClock });
const relay = new UpstreamRelay(
  { station: 'ST1', upstream: { url, protocolVersion: pv === '5' ? 5 : 4, keepaliveSec: 5, reconnectMs: 200, window: 20, rejectUnauthorized: true } },
  { outbox },
);
relay.start();
const from = Number(fromText);
const to = Number(toText);
// Bursts of BURST messages in one event-loop turn share one group commit; `enq` is printed only once
// the commit has resolved, so the parent restarts a killed gateway after the last message on disk.
const BURST = 4;
for (let seq = from; seq <= to; seq += BURST) {
  const burst: Promise<number>[] = [];
  const last = Math.min(to, seq + BURST - 1);
  for (let s = seq; s <= last; s++) {
    const alarm = s % 25 === 0;
    burst.push(
      relay.send({
        topic: alarm ? relay.topics.alarm : relay.topics.fillOutcome('P1'),
        payload: JSON.stringify({ seq: s, attemptId: `a-${s}` }),
        class: alarm ? 'alarm' : 'record',
      }),
    );
  }
  await Promise.all(burst);
  process.stdout.write(`enq ${last}\n`);
  await new Promise((r) => setTimeout(r, Number(intervalText)));
}
// Drained: report and wait for the parent to stop us.
const timer = setInterval(() => {
  const s = relay.status();
  if (s.backlog.count === 0) process.stdout.write('drained\n');
}, 100);
process.on('SIGTERM', async () => {
  clearInterval(timer);
  await relay.stop();
  db.close();
  process.exit(0);
});
