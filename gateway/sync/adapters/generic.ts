/**
 * The generic adapter: record v1 as is, to our receiver (gateway/receiver).
 * The stored canonical JSON is sent unchanged, so the receiver hashes exactly
 * the bytes the station signed.
 */
import type { BatchAck, PlatformAdapter, RecordAck } from './types.ts';

export const genericAdapter: PlatformAdapter = {
  name: 'generic',
  encodeBatch(records) {
    // NDJSON: the receiver splits lines without parsing the whole batch on one thread.
    return { contentType: 'application/x-ndjson', body: records.map((r) => r.json).join('\n') + '\n' };
  },
  decodeAck(status, text): BatchAck {
    if (status !== 200) return { ok: false, error: `HTTP ${status}: ${text.slice(0, 200)}` };
    let body: { results?: unknown };
    try {
      body = JSON.parse(text) as { results?: unknown };
    } catch {
      return { ok: false, error: 'reply is not JSON' };
    }
    if (!Array.isArray(body.results)) return { ok: false, error: 'reply has no results array' };
    const results: RecordAck[] = [];
    for (const r of body.results as Record<string, unknown>[]) {
      if (!r || typeof r.id !== 'string' || !['accepted', 'duplicate', 'rejected'].includes(r.status as string)) continue;
      const reason = [r.reason, r.message].filter((x) => typeof x === 'string').join(': ') || undefined;
      results.push({ id: r.id, status: r.status as RecordAck['status'], reason, retryable: r.retryable === true });
    }
    return { ok: true, results };
  },
};
