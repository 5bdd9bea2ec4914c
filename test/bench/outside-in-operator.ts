/**
 * The operators of the outside-in bench: one per post, each doing what a
 * person does, through the simulator's control API (place the cylinder, its
 * tag read, the filler's badge, the start button, take it off) and reading the
 * controller's GET /status between steps, as `fillgate wait` does. The same
 * steps for fillgate and for the naive controller; only what "ready" and
 * "done" look like differs.
 */
import { mulberry32 } from '../../sim/physics.ts';
import type { StatusPost } from './outside-in-procs.ts';
import { SUPERVISOR, TARE_KG, fillerOf } from './outside-in-station.ts';

export type Kind = 'fillgate' | 'naive';

export interface FillRun {
  post: number;
  index: number;
  code: string;
  residualKg: number;
  /** Flow and closing time the simulator drew for this fill. */
  drawn: { flowKgPerMin: number; closeDelayMs: number };
  fromAt: number;
  toAt: number;
  /** True gas in the cylinder when it was taken off (the simulator's, not a reading). */
  contentKg: number;
  completed: boolean;
  /** Start presses the controller did not act on (the operator pressed again after 2.5 s, up to 4 presses). */
  ignoredStarts: number;
  /** The phase (and reason) it ended in when not completed. */
  end?: string;
  /** Date.now() when the operator first saw the post in fault on /status (polled every 200 ms), if it faulted. */
  faultSeenAt?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IDLE = new Set(['idle', 'closedOut', 'aborted']);

export interface OperatorContext {
  kind: Kind;
  simUrl: string;
  posts: Map<string, StatusPost>;
  codes: string[];
  fillsPerPost: number;
  seed: number;
  deadline: number;
}

async function sim(url: string, path: string, body: unknown = {}): Promise<any> {
  const res = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const j = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(j)}`);
  return j;
}

/** One post's operator: fillsPerPost cycles, one fresh cylinder each. */
export async function operate(ctx: OperatorContext, i: number): Promise<FillRun[]> {
  const id = `P${i + 1}`;
  const residual = mulberry32(ctx.seed * 31 + i);
  const st = () => ctx.posts.get(id);
  const phase = () => st()?.phase ?? 'none';
  let faultSeenAt: number | undefined;
  const until = async (ok: () => boolean, ms: number) => {
    const t0 = Date.now();
    for (;;) {
      if (phase() === 'fault') faultSeenAt ??= Date.now();
      if (ok()) break;
      if (Date.now() - t0 > ms) return false;
      await sleep(30);
    }
    return true;
  };
  const runs: FillRun[] = [];
  for (let k = 0; k < ctx.fillsPerPost && Date.now() < ctx.deadline; k++) {
    // The controller must have seen the scale empty, or it would judge this cylinder by the last one's weight.
    await until(() => phase() === 'fault' || ((st()?.grossKg ?? 99) < 1 && (ctx.kind === 'naive' || IDLE.has(phase()))), 10_000);
    if (phase() === 'fault') await recover(ctx, id, until);
    const code = ctx.codes[i * ctx.fillsPerPost + k]!;
    const residualKg = Math.round((0.1 + 0.25 * residual()) * 1000) / 1000;
    const fromAt = Date.now();
    faultSeenAt = undefined;
    const placed = await sim(ctx.simUrl, `/posts/${id}/place`, { code, tareKg: TARE_KG, residualKg });
    await until(() => (st()?.grossKg ?? 0) > 1, 5000);
    await sim(ctx.simUrl, `/posts/${id}/scan`, { code });
    let end: string | undefined;
    let ignoredStarts = 0;
    // A person presses start again when nothing happens.
    const pressStart = async (started: () => boolean): Promise<number> => {
      for (let n = 0; n < 4; n++) {
        await sim(ctx.simUrl, `/posts/${id}/press`, { button: 'start' });
        if (await until(started, 2500)) return n;
      }
      return 4;
    };
    if (ctx.kind === 'fillgate') {
      if (await until(() => ['verified', 'cylinderReady', 'aborted', 'fault'].includes(phase()), 8000)) {
        if (phase() === 'verified' || phase() === 'cylinderReady') {
          await sim(ctx.simUrl, `/posts/${id}/badge`, { badge: fillerOf(i) });
          await until(() => ['cylinderReady', 'aborted', 'fault'].includes(phase()), 8000);
        }
      }
      if (phase() === 'cylinderReady') {
        ignoredStarts = await pressStart(() => phase() !== 'cylinderReady');
        await until(() => ['checked', 'reweighed', 'aborted', 'fault', 'idle'].includes(phase()), 120_000);
      }
      if (phase() !== 'checked') end = `${phase()}${st()?.reason ? ` ${st()!.reason}` : ''}`;
    } else {
      await sim(ctx.simUrl, `/posts/${id}/badge`, { badge: fillerOf(i) });
      await sleep(300); // the naive controller ignores readers; the operator still takes the same time
      ignoredStarts = await pressStart(() => phase() !== 'idle');
      if (phase() === 'idle' || !(await until(() => phase() === 'done', 120_000))) end = `naive ${phase()}`;
      await sleep(600); // the gas still in flight (≤ 220 ms) and the display settling
    }
    const removed = await sim(ctx.simUrl, `/posts/${id}/remove`);
    runs.push({ post: i, index: k, code, residualKg, drawn: placed.fill, fromAt, toAt: Date.now(), contentKg: removed.cylinder.gasKg, completed: end === undefined, end, ignoredStarts, faultSeenAt });
    if (ctx.kind === 'fillgate') {
      await until(() => IDLE.has(phase()) || phase() === 'fault', 5000);
      if (phase() === 'fault') await recover(ctx, id, until);
    }
  }
  return runs;
}

/** A post in fault: the cylinder is off, the supervisor badges in to clear it (as the valve soak does). */
async function recover(ctx: OperatorContext, id: string, until: (ok: () => boolean, ms: number) => Promise<boolean>): Promise<void> {
  await until(() => (ctx.posts.get(id)?.grossKg ?? 99) < 1, 3000);
  await sim(ctx.simUrl, `/posts/${id}/badge`, { badge: SUPERVISOR });
  await until(() => ctx.posts.get(id)?.phase !== 'fault', 3000);
}
