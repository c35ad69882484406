import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** An installed binary of Debian's `prometheus` package (`prometheus` or `promtool`), or undefined. */
function binary(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  return existsSync(`/usr/bin/${name}`) ? `/usr/bin/${name}` : undefined;
}

export const promtoolPath = (): string | undefined => binary('promtool');
export const prometheusPath = (): string | undefined => binary('prometheus');
