/**
 * The package's root folder (the one with package.json), the same whether this module runs
 * from the sources or from the compiled build in dist/ (one level deeper): files that are not
 * compiled (the dashboard's public/ assets, examples/) are read from the source tree.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const packageRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
