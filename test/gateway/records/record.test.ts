import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { canonicalJson, GENESIS_HASH, sha256Hex } from '../../../gateway/records/canonical.ts';
import { checkAttempt, isoWithOffset, recordHash, signedBytes, verifySignature, type FillRecordV1 } from '../../../gateway/records/record.ts';
import { refusalReasons, tripReasons } from '../../../gateway/reasons.ts';
import { isFillgateError } from '../../../protocols/errors.ts';
import { makeAttempt, makeKeys, makeStore } from './fixtures.ts';
import { validate } from './json-schema-lite.ts';

const schema = JSON.parse(readFileSync(new URL('../../../gateway/records/fill-record.v1.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

test('canonical form: sorted keys at every depth, no whitespace, undefined left out', () => {
  assert.is(canonicalJson({ b: [1, { z: 2, a: 'x' }], a: undefined, c: null, é: true }), '{"b":[1,{"a":"x","z":2}],"c":null,"é":true}');
  assert.is(canonicalJson({ s: 'line\n"q"' }), '{"s":"line\\n\\"q\\""}');
  assert.is(canonicalJson(-0), '0');
});

test('canonical form refuses floats and NaN with the path, so masses cannot be formatted two ways', () => {
  for (const bad of [{ a: { b: [1, 1.5] } }, { a: NaN }, { a: 2 ** 60 }]) {
    try {
      canonicalJson(bad);
      assert.unreachable('should throw');
    } catch (err) {
      assert.ok(isFillgateError(err, 'BAD_PAYLOAD'));
      assert.match((err as Error).message, /^\$\.a/);
    }
  }
});

test('kg become integer grams, durations integer ms; floats like 14.88 do not drift', () => {
  const { store } = makeStore(makeKeys());
  const r = store.append(makeAttempt(1, { netFilledKg: 14.88, tareKg: 16.5000000001, deviationKg: -0.0204, durationMs: 61234.6 }));
  assert.is(r.netFilledG, 14880);
  assert.is(r.tareG, 16500);
  assert.is(r.deviationG, -20);
  assert.is(r.durationMs, 61235);
  store.close();
});

test('hash is SHA-256 of the canonical bytes without sig; sig is Ed25519 over the same bytes', () => {
  const keys = makeKeys();
  const { store } = makeStore(keys);
  const r1 = store.append(makeAttempt(1));
  const r2 = store.append(makeAttempt(2));
  assert.is(r1.prevHash, GENESIS_HASH);
  assert.is(r2.prevHash, sha256Hex(signedBytes(r1)));
  assert.is(recordHash(r1), sha256Hex(canonicalJson({ ...r1, sig: undefined })));
  assert.ok(verifySignature(r1, keys.publicKey));
  assert.not.ok(verifySignature({ ...r1, netFilledG: 14881 }, keys.publicKey), 'altered content fails');
  assert.not.ok(verifySignature(r1, generateKeyPairSync('ed25519').publicKey), 'another key fails');
  store.close();
});

test('times carry the zone offset (GB/T 7408)', () => {
  assert.is(isoWithOffset(Date.UTC(2026, 0, 1, 0, 0, 0), 480), '2026-01-01T08:00:00.000+08:00');
  assert.is(isoWithOffset(Date.UTC(2026, 0, 1, 0, 0, 0), -90), '2025-12-31T22:30:00.000-01:30');
  const { store } = makeStore(makeKeys());
  assert.match(store.append(makeAttempt(1)).recordedAt, /^2026-01-01T08:00:01\.000\+08:00$/);
  store.close();
});

test('records of every outcome validate against the shipped JSON Schema', () => {
  const { store } = makeStore(makeKeys());
  const records: FillRecordV1[] = [
    store.append(makeAttempt(1)),
    store.append({ attemptId: 'r-1', station: 'ST01', unit: 'U', post: 'P1', outcome: 'refused', cylinderCode: 'X', trips: [], refusals: [{ code: 'INSPECTION_OVERDUE', detail: 'due 2025-01-01' }] }),
    store.append(makeAttempt(3, { outcome: 'tripped', trips: [{ code: 'NO_FLOW', at: '2026-01-01T08:00:00+08:00', grossKg: 20.1 }] })),
    store.append(makeAttempt(4, { tareKg: Number.NaN })),
  ];
  for (const r of records) assert.equal(validate(JSON.parse(JSON.stringify(r)), schema), [], r.id);
  assert.ok(validate({ ...records[0], extra: 1 }, schema).some((e) => /unexpected property extra/.test(e)));
  assert.ok(validate({ ...records[0], netFilledG: 1.5 }, schema).some((e) => /expected integer/.test(e)));
  store.close();
});

test('every reason code of gateway/reasons.ts fits the schema (codes may grow without a format change)', () => {
  const props = schema.properties as Record<string, { items: Record<string, unknown> }>;
  for (const code of Object.keys(refusalReasons)) assert.equal(validate({ code }, props.refusals.items, schema), [], code);
  for (const code of Object.keys(tripReasons)) assert.equal(validate({ code, at: '2026-01-01T08:00:00+08:00' }, props.trips.items, schema), [], code);
  assert.ok(validate({ code: 'lower case' }, props.refusals.items, schema).length > 0);
});

test('a bad optional field is left out and named; the attempt is still recorded', () => {
  const { attempt, dataErrors } = checkAttempt(makeAttempt(1, { tareKg: Number.POSITIVE_INFINITY, startedAt: 'yesterday' }));
  assert.is(attempt.tareKg, undefined);
  assert.is(attempt.startedAt, undefined);
  assert.equal(dataErrors.length, 2);
  assert.match(dataErrors.join('|'), /tareKg/);
  assert.match(dataErrors.join('|'), /startedAt: ISO 8601/);
});

test('a bad required field is a clear BAD_PAYLOAD error', () => {
  try {
    checkAttempt({ ...makeAttempt(1), outcome: 'exploded' as never });
    assert.unreachable();
  } catch (err) {
    assert.ok(isFillgateError(err, 'BAD_PAYLOAD'));
    assert.match((err as Error).message, /outcome/);
  }
});

test.run();
