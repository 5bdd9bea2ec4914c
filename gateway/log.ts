/**
 * Namespaced pino loggers with per-namespace levels ("post.P1": debug while
 * the rest stays at info). Frame hex dumps are logged only at trace, and the
 * caller checks `isLevelEnabled('trace')` before building the hex string.
 */
import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LogSettings {
  level: LevelWithSilent;
  /** Namespace prefix → level; the longest matching prefix wins. */
  levels?: Record<string, LevelWithSilent>;
  /** Where to write; defaults to stdout. Tests pass a stream to capture. */
  destination?: pino.DestinationStream;
}

export interface LogFactory {
  (namespace: string): Logger;
  root: Logger;
}

export function createLogFactory(settings: LogSettings): LogFactory {
  const root = pino({ level: 'trace', base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, settings.destination);
  const prefixes = Object.entries(settings.levels ?? {}).sort((a, b) => b[0].length - a[0].length);
  const cache = new Map<string, Logger>();
  const factory = ((namespace: string) => {
    let child = cache.get(namespace);
    if (!child) {
      const match = prefixes.find(([p]) => namespace === p || namespace.startsWith(p + '.'));
      child = root.child({ ns: namespace }, { level: match ? match[1] : settings.level });
      cache.set(namespace, child);
    }
    return child;
  }) as LogFactory;
  factory.root = root;
  return factory;
}

/** A factory that discards everything (tests, quiet CLI commands). */
export const silentLogs: LogFactory = createLogFactory({ level: 'silent' });
