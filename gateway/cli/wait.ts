import { parse, UsageError } from './args.ts';
import { errorMessage } from '../../protocols/errors.ts';

const PHASES = ['idle', 'identified', 'verified', 'cylinderReady', 'filling', 'toppingUp', 'cutOff', 'settling', 'checked', 'reweighed', 'closedOut', 'aborted', 'fault'];

/**
 * `fillgate wait <post> <phase>[,<phase>...] [--url] [--timeout s]`: polls the running gateway's
 * GET /status until the post is in one of the phases, so a walk-through (README) or a script
 * does its next step only when the gateway is ready for it. Exit 0 reached; 1 timeout, or the
 * post went to fault instead (reason printed); 2 bad usage.
 */
export async function waitCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { url: { type: 'string', default: 'http://127.0.0.1:8080' }, timeout: { type: 'string', default: '60' } });
  const [post, list] = positionals;
  if (!post || !list) throw new UsageError('wants a post and a phase, e.g. fillgate wait P1 verified');
  const want = list.split(',').filter(Boolean);
  const unknown = want.filter((p) => !PHASES.includes(p));
  if (unknown.length) throw new UsageError(`unknown phase ${unknown.join(', ')}; phases: ${PHASES.join(' ')}`);
  const timeoutMs = Number(values.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout wants seconds, got "${String(values.timeout)}"`);
  const url = `${String(values.url).replace(/\/$/, '')}/status`;
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const status = (await res.json()) as { posts?: { id: string; phase: string; reason?: string }[] };
      const p = status.posts?.find((x) => x.id === post);
      if (!p) throw new UsageError(`the gateway has no post "${post}" (has: ${(status.posts ?? []).map((x) => x.id).join(', ')})`);
      last = p.phase + (p.reason ? ` (${p.reason})` : '');
      if (want.includes(p.phase)) {
        console.log(`${post} ${last}`);
        return 0;
      }
      if (p.phase === 'fault') {
        console.error(`${post} is in fault: ${p.reason ?? '?'}`);
        return 1;
      }
    } catch (err) {
      if (err instanceof UsageError) throw err;
      last = `no answer from ${url}: ${errorMessage(err)}`;
    }
    if (Date.now() >= end) {
      console.error(`${post}: not ${want.join(' or ')} after ${values.timeout} s; last: ${last}`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
