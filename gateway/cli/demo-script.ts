/**
 * Plays the people at the posts against the simulator: place a cylinder, scan
 * it, badge in to confirm the pre-fill check, press start, move the filled
 * cylinder to the check-weigh scale, badge the checker, take it away. Posts
 * run side by side; the one check scale is taken in turn.
 */
import type { Simulator } from '../../sim/index.ts';
import type { Station } from '../runtime/station.ts';
import type { FillAttempt } from '../records/types.ts';

export interface Step {
  /** Cylinder put on the post's scale. */
  place: string;
  /** Code scanned, when not the placed cylinder's own (a pocket code). */
  scan?: string;
  note?: string;
}

const people: Record<string, { filler: string; checker: string }> = {
  P1: { filler: 'B1001', checker: 'B1002' },
  P2: { filler: 'B1002', checker: 'B1001' },
};
const SUPERVISOR = 'B1009';
const idleLike = new Set(['idle', 'closedOut', 'aborted']);

export async function runScenario(station: Station, sim: Simulator, script: Record<string, Step[]>, onStep?: (post: string, s: Step) => void, timeoutMs = 120_000): Promise<FillAttempt[]> {
  const records: FillAttempt[] = [];
  station.events.on((e) => e.kind === 'record' && records.push(e.attempt));
  let checkScale: Promise<void> = Promise.resolve();
  const phase = (post: string) => station.posts.get(post)!.snapshot.phase.kind;
  const until = async (what: string, fn: () => boolean) => {
    const t0 = Date.now();
    while (!fn()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`demo: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const gross = (post: string) => sim.state().posts.find((p) => p.id === post)?.scale.grossKg ?? 0;
  // What the gateway has seen, not what the simulator holds: a person waits for the scale's display
  // before scanning, and sees it empty before putting the next cylinder on. Without this, a remove and
  // a place closer together than the gateway's polling look to it like one cylinder swapped for another
  // (CYLINDER_SWAPPED against the previous cylinder's weight), which is what the gateway must say.
  const gatewayView = (post: string) => station.posts.get(post)!.snapshot.ctx;
  const settledAt = (post: string) => {
    const c = gatewayView(post);
    return !!c.last && c.last.stable && c.stableRun >= 2 && Math.abs(c.last.grossKg - gross(post)) < 0.1;
  };
  const seenEmpty = (post: string) => (gatewayView(post).last?.grossKg ?? 0) < 1;
  // A cylinder the script uses at two posts is fetched once the other post has let it go.
  const heldElsewhere = (post: string, code: string) => {
    const s = sim.state();
    return s.posts.some((p) => p.id !== post && p.cylinder?.code === code) || s.check?.cylinder?.code === code;
  };

  const runPost = async (post: string, steps: Step[]) => {
    const who = people[post] ?? people.P1;
    for (const step of steps) {
      onStep?.(post, step);
      await until(`${post} idle`, () => idleLike.has(phase(post)) || phase(post) === 'fault');
      const seen = records.filter((r) => r.post === post).length;
      const recorded = () => records.filter((r) => r.post === post).length > seen;
      await until(`${step.place} free`, () => !heldElsewhere(post, step.place));
      sim.place(post, step.place);
      await until(`${post} scale loaded`, () => gross(post) > 1 && settledAt(post));
      sim.scan(post, step.scan ?? step.place);
      await until(`${post} verified or refused`, () => recorded() || phase(post) === 'verified' || phase(post) === 'cylinderReady');
      if (!recorded()) {
        sim.badge(post, who.filler);
        await until(`${post} ready`, () => recorded() || phase(post) === 'cylinderReady');
      }
      if (!recorded()) {
        sim.press(post, 'start', 300);
        await until(`${post} filled`, () => recorded() || phase(post) === 'checked' || phase(post) === 'fault');
      }
      if (phase(post) === 'checked') {
        const mine = checkScale.then(async () => {
          sim.toCheck(post);
          sim.badge(post, who.checker);
          await until(`${post} re-weighed`, () => phase(post) === 'reweighed' || recorded());
          sim.removeCheck();
          await until(`${post} closed out`, recorded);
        });
        checkScale = mine.catch(() => undefined);
        await mine;
      } else {
        await until(`${post} record`, recorded);
        sim.remove(post);
      }
      if (phase(post) === 'fault') sim.badge(post, SUPERVISOR);
      await until(`${post} scale empty`, () => gross(post) < 1 && seenEmpty(post));
    }
  };
  await Promise.all(Object.entries(script).map(([post, steps]) => runPost(post, steps)));
  return records;
}
