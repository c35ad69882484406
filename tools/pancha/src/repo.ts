import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

let root: string | undefined;

/** The repository root (the `pancha` package), from source or from dist/: where workflows/, docs/ and .data/ are. */
export function repoRoot(): string {
  if (root) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'pancha') return (root = dir);
    if (path.dirname(dir) === dir) return (root = process.cwd());
  }
}
