/**
 * The gateway's upload side as its own process, for the SIGKILL test:
 *   node --import tsx gateway-proc.ts <dbPath> <keyDir> <uploadUrl>
 * Prints "uploading" once started.
 */
import { systemClock } from '../../../../protocols/clock.ts';
import { loadPrivateKey } from '../../../../gateway/records/keys.ts';
import { RecordStore } from '../../../../gateway/records/store.ts';
import { Uploader } from '../../../../gateway/sync/uploader.ts';

const [dbPath, keyDir, url] = process.argv.slice(2);
const store = new RecordStore({ db: dbPath, clock: systemClock, station: 'ST01', privateKey: loadPrivateKey(keyDir) });
const up = new Uploader({ store, clock: systemClock, config: { url, batchSize: 250, timeoutMs: 5000, idleMs: 50, backoff: { initialMs: 20, maxMs: 200, factor: 2, jitter: 0.5 } } });
up.start();
console.log('uploading');
