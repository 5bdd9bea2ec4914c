/**
 * Registry imports while the station runs (issue 9 point 5). Policy:
 * - refused while any post is filling (valve open, topping up or cutting off):
 *   those are the phases whose timing is the product, and a fill's eligibility was
 *   decided against the registry it started with. The refusal names the posts.
 *   The check is made when the import starts; a fill that starts during an import
 *   is safe, because the import runs in a worker thread and writes in short
 *   transactions (import-chunked.ts), never holding the event loop or the lock.
 * - one import at a time; a second is refused while the first runs.
 */
import { join } from 'node:path';
import { FillgateError } from '../../protocols/errors.ts';
import type { ImportFormat, ImportOptions, ImportReport } from '../registry/import.ts';
import { importInWorker } from '../registry/import-runner.ts';
import type { Registry } from '../registry/registry.ts';
import type { PostRuntime } from './post.ts';

/** Phases in which an import is refused. */
export const FILLING_PHASES: ReadonlySet<string> = new Set(['filling', 'toppingUp', 'cutOff']);

export type ImportRefusal = { code: 'IMPORT_WHILE_FILLING'; posts: string[] } | { code: 'IMPORT_RUNNING'; since: string; what: string };

export interface ImportProgress {
  what: 'cylinders' | 'operators';
  source: string;
  startedAt: string;
  written: number;
  toWrite?: number;
}

export class RegistryImports {
  private current?: ImportProgress;

  constructor(private readonly deps: { dataDir: () => string; posts: () => Iterable<PostRuntime>; registry: () => Registry; wall: () => number }) {}

  /** Why an import may not start now, or undefined. */
  refusal(): ImportRefusal | undefined {
    if (this.current) return { code: 'IMPORT_RUNNING', since: this.current.startedAt, what: this.current.what };
    const filling = [...this.deps.posts()].filter((p) => FILLING_PHASES.has(p.snapshot.phase.kind)).map((p) => p.id);
    return filling.length ? { code: 'IMPORT_WHILE_FILLING', posts: filling } : undefined;
  }

  /** The running import, for /status. */
  get running(): ImportProgress | undefined {
    return this.current && { ...this.current };
  }

  /** Throws CONFLICT (context: the refusal) when refused; otherwise the import's report. */
  async run(what: 'cylinders' | 'operators', bytes: Uint8Array, format: ImportFormat, opts: ImportOptions): Promise<ImportReport> {
    const refused = this.refusal();
    if (refused) {
      const why = refused.code === 'IMPORT_RUNNING' ? `another ${refused.what} import is running (since ${refused.since})` : `post ${refused.posts.join(', ')} is filling`;
      throw new FillgateError('CONFLICT', `registry import refused: ${why}; import when no post is filling`, { refusal: refused });
    }
    const registry = this.deps.registry();
    this.current = { what, source: opts.source ?? 'import', startedAt: new Date(this.deps.wall()).toISOString(), written: 0 };
    try {
      return await importInWorker(
        { dbPath: join(this.deps.dataDir(), 'station.db'), kind: what, format, bytes, opts: { today: registry.today(), ...opts }, limits: registry.limits },
        (written, toWrite) => this.current && Object.assign(this.current, { written, toWrite }),
      );
    } finally {
      this.current = undefined;
    }
  }
}
