/** The receiver's verdict (gateway/receiver/chain.ts) as a table: no database, no I/O. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { admit, decide, emptyView, RECORD_NOUNS, type Candidate, type ChainRow, type ChainView } from '../../gateway/receiver/chain.ts';

const h = (n: number) => String(n).padStart(64, 'a');
const row = (seq: number, id = `r${seq}`): ChainRow => ({ seq, id, hash: h(seq), prevHash: seq === 1 ? '0'.repeat(64) : h(seq - 1) });
const cand = (seq: number, over: Partial<Candidate> = {}): Candidate => ({ ...row(seq), station: 'ST01', recordedMs: 0, sigOk: true, ...over });

/** A view holding `seqs`, as the store would load it for `c`. */
function view(seqs: number[], c: Candidate): ChainView {
  const v = emptyView();
  for (const s of seqs) {
    v.bySeq.set(s, row(s));
    v.byId.set(`r${s}`, row(s));
  }
  const below = seqs.filter((s) => s < c.seq);
  v.floor.set(c.seq, below.length ? row(Math.max(...below)) : undefined);
  return v;
}

const table: [string, number[], Candidate, string, string?][] = [
  ['in order', [1, 2], cand(3), 'accepted'],
  ['first record', [], cand(1), 'accepted'],
  ['same id, same content', [1, 2], cand(2), 'duplicate'],
  ['same id, other content', [1, 2], cand(2, { hash: h(99) }), 'rejected', 'CONFLICT'],
  ['bad signature', [1], cand(2, { sigOk: false }), 'rejected', 'BAD_SIGNATURE'],
  ['revoked key', [1], cand(2, { revoked: 'revoked' }), 'rejected', 'KEY_REVOKED'],
  ['other id at an occupied seq (fork)', [1, 2], cand(2, { id: 'x2' }), 'rejected', 'CONFLICT'],
  ['prevHash not the stored seq-1', [1], cand(2, { prevHash: h(77) }), 'rejected', 'BROKEN_CHAIN'],
  ['seq 1 without genesis', [], cand(1, { prevHash: h(5) }), 'rejected', 'BROKEN_CHAIN'],
  ['does not link to the stored seq+1', [1, 3], cand(2, { hash: h(55) }), 'rejected', 'BROKEN_CHAIN'],
  ['after a hole', [1], cand(4), 'accepted'],
];

for (const [name, seqs, c, status, reason] of table) {
  test(name, () => {
    const r = decide(c, view(seqs, c), RECORD_NOUNS, []);
    assert.equal([r.status, r.reason], [status, reason], r.message);
  });
}

test('a gap is reported with its bounds, and a later item of the same batch sees the earlier one', () => {
  const v = view([1], cand(4));
  v.floor.set(5, row(1));
  const accepted: ChainRow[] = [];
  const r4 = decide(cand(4), v, RECORD_NOUNS, accepted);
  assert.equal(r4.gap, { from: 2, to: 3 });
  admit(cand(4), v, accepted);
  const r5 = decide(cand(5), v, RECORD_NOUNS, accepted);
  assert.equal([r5.status, r5.gap], ['accepted', undefined], 'seq 5 links to the seq 4 accepted just before');
  assert.is(decide(cand(4), v, RECORD_NOUNS, accepted).status, 'duplicate', 'the same record twice in one batch');
});

test.run();
