/**
 * The bus arbiter's queue (bus.ts) and the rules that make a close final on
 * the wire (issue 9 point 2; protocols/modbus/README.md, "Order on the bus"):
 *
 * 1. Urgent jobs (de-energising writes: a coil OFF) go behind earlier urgent
 *    jobs and ahead of every other job.
 * 2. An urgent OFF supersedes every queued write to the same coil (same unit,
 *    same address): a queued ON is dropped and rejects with SUPERSEDED instead
 *    of reaching the module after the OFF; a queued OFF already does what the
 *    new one asks, so the new caller shares its outcome. An ON to that coil
 *    on the wire right now cannot be recalled, but gets no retry.
 * 3. A retry is a new entry, not a loop inside one job: it goes behind every
 *    urgent job and ahead of the jobs queued after its first attempt, so a
 *    close waits for at most the one attempt already on the wire.
 *
 * Single-coil writes are FC05 (Modbus Application Protocol v1.1b3, 6.5); the
 * bus exposes no FC15, so a coil is named by unit and address alone.
 */
import { FillgateError } from '../errors.ts';
import type { BusUnit, UnitRequest } from './unit.ts';

export interface Job {
  unit: BusUnit;
  request: UnitRequest<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  /** Attempts still allowed; set when the first attempt is admitted. */
  attemptsLeft?: number;
  /** A later OFF to the same coil came while this ON was on the wire: no retry. */
  superseded?: boolean;
}

export class BusQueue {
  private readonly jobs: Job[] = [];
  /** The job whose attempt is on the wire (or about to be); set by the bus. */
  current: Job | undefined;

  get length(): number {
    return this.jobs.length;
  }

  /** A new request, placed by rules 1 and 2. */
  add(job: Job): void {
    const coil = job.request.coil;
    if (coil && !coil.on) {
      if (this.current && sameCoil(this.current, job) && this.current.request.coil!.on) this.current.superseded = true;
      const queuedOff = this.jobs.find((j) => sameCoil(j, job) && !j.request.coil!.on && !j.request.stillWanted && !job.request.stillWanted);
      for (const on of this.jobs.filter((j) => sameCoil(j, job) && j.request.coil!.on)) {
        this.jobs.splice(this.jobs.indexOf(on), 1);
        on.reject(supersededError(on));
      }
      if (queuedOff) return share(queuedOff, job);
    }
    if (job.request.urgent) this.jobs.splice(this.firstNormal(), 0, job);
    else this.jobs.push(job);
  }

  /** The next attempt of a job that failed in a way worth retrying (rule 3). */
  retry(job: Job): void {
    this.jobs.splice(this.firstNormal(), 0, job);
  }

  next(): Job | undefined {
    return this.jobs.shift();
  }

  /** Empties the queue (link down, bus closed); the caller rejects them. */
  drain(): Job[] {
    return this.jobs.splice(0);
  }

  private firstNormal(): number {
    const i = this.jobs.findIndex((j) => !j.request.urgent);
    return i === -1 ? this.jobs.length : i;
  }
}

export function supersededError(job: Job): FillgateError {
  const { unit, request } = job;
  return new FillgateError('SUPERSEDED', `${request.describe} to unit ${unit.unitId} on ${unit.busUrl} was not sent: superseded`, {
    unitId: unit.unitId,
    busUrl: unit.busUrl,
    coil: request.coil?.address,
  });
}

function sameCoil(a: Job, b: Job): boolean {
  return a.unit === b.unit && a.request.coil !== undefined && a.request.coil.address === b.request.coil?.address;
}

/** `later` settles with `queued`: the same write to the same coil, already in line. */
function share(queued: Job, later: Job): void {
  const { resolve, reject } = queued;
  queued.resolve = (v) => {
    resolve(v);
    later.resolve(v);
  };
  queued.reject = (e) => {
    reject(e);
    later.reject(e);
  };
}
