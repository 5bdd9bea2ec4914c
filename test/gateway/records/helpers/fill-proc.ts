/** Child process for the kill test: journals a fill in progress, says so, then waits to be SIGKILLed. */
import { systemClock } from '../../../../protocols/clock.ts';
import { keysInit, loadPrivateKey } from '../../../../gateway/records/keys.ts';
import { RecordStore } from '../../../../gateway/records/store.ts';
import { makeAttempt } from '../fixtures.ts';

const [dir] = process.argv.slice(2);
keysInit(dir);
const store = new RecordStore({ db: `${dir}/records.db`, clock: systemClock, station: 'ST01', privateKey: loadPrivateKey(dir) });
store.append(makeAttempt(1));
const { outcome: _o, ...attempt } = makeAttempt(2, { netFilledKg: 7.5, endedAt: undefined });
store.markInProgress('P3', { ...attempt, post: 'P3', outcome: 'filled' });
console.log('filling');
setInterval(() => {}, 1000);
