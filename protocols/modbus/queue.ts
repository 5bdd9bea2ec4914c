/**
 * The bus arbiter's queue (bus.ts) and the rules that make a close final on
 * the wire (issue 9 point 2; protocols/modbus/README.md, "Order on the bus"):
 *
 * 1. Urgent jobs (de-energising writes: a coil OFF) go behind earlier urgent
 *    jobs and ahead of every other job.
 * 2. An urgent OFF supersedes every queued write that would set one of its
 *    coils ON (same unit, same address): a queued ON, or a write-multiple
 *    (FC15, a module's keep-alive) carrying ON for that coil, is dropped and
 *    rejects with SUPERSEDED instead of reaching the module after the OFF; a
 *    queued single OFF to that coil already does what the new one asks, so the
 *    new caller shares its outcome. An ON to that coil on the wire right now
 *    (one of several in flight on a pipelined Modbus TCP link) cannot be
 *    recalled, but gets no retry.
 * 3. A retry is a new entry, not a loop inside one job: it goes behind every
 *    urgent job and ahead of the jobs queued after its first attempt, so a
 *    close waits for at most the attempts already on the wire.
 *
 * Coil writes are FC05 (single) and FC15 (multiple), Modbus Application
 * Protocol v1.1b3 sections 6.5 and 6.11; a coil is named by unit and address.
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
  /** A later OFF to one of its coils came while this ON was on the wire: no retry. */
  superseded?: boolean;
  /** performance.now() when it (or its retry) joined the queue: for the queue-wait figure. */
  queuedAt?: number;
}

export class BusQueue {
  private readonly jobs: Job[] = [];
  /** The jobs whose attempts are on the wire (or about to be); kept by the bus. At most maxInFlight. */
  readonly inFlight = new Set<Job>();

  get length(): number {
    return this.jobs.length;
  }

  /** A new request, placed by rules 1 and 2. */
  add(job: Job): void {
    job.queuedAt = performance.now();
    const off = offCoils(job);
    if (off) {
      for (const j of this.inFlight) if (setsOn(j, job.unit, off)) j.superseded = true;
      const queuedOff = isSingleOff(job) ? this.jobs.find((j) => isSingleOff(j) && sameCoil(j, job) && !j.request.stillWanted && !job.request.stillWanted) : undefined;
      for (const on of this.jobs.filter((j) => setsOn(j, job.unit, off))) {
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
    job.queuedAt = performance.now();
    this.jobs.splice(this.firstNormal(), 0, job);
  }

  /** The job next() would return. */
  peek(): Job | undefined {
    return this.jobs[0];
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
  const w = coilWrite(job);
  return new FillgateError('SUPERSEDED', `${request.describe} to unit ${unit.unitId} on ${unit.busUrl} was not sent: superseded`, {
    unitId: unit.unitId,
    busUrl: unit.busUrl,
    coil: w?.address,
  });
}

/** The coils a request writes, FC05 or FC15 alike. */
function coilWrite(job: Job): { address: number; values: readonly boolean[] } | undefined {
  const r = job.request;
  if (r.coil) return { address: r.coil.address, values: [r.coil.on] };
  return r.coils;
}

/** The addresses an urgent all-OFF write de-energises, or undefined. */
function offCoils(job: Job): number[] | undefined {
  const w = coilWrite(job);
  if (!w || w.values.some(Boolean)) return undefined;
  return w.values.map((_, i) => w.address + i);
}

/** Whether `job` would set any of `addresses` of `unit` ON. */
function setsOn(job: Job, unit: BusUnit, addresses: number[]): boolean {
  const w = coilWrite(job);
  if (!w || job.unit !== unit) return false;
  return addresses.some((a) => w.values[a - w.address] === true);
}

function isSingleOff(job: Job): boolean {
  return job.request.coil !== undefined && !job.request.coil.on;
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
