import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from '@nestjs/common';

export interface DirectoryWatchOptions {
  dir: string;
  /** What is watched, in log lines: "workflows" or "plugins". */
  what: string;
  recursive?: boolean;
  /** Which changed file names count (undefined name: the platform did not say, so it counts). */
  accept: (file: string) => boolean;
  /** Quiet time after the last change before `onQuiet` (editors and `git checkout` write in bursts). */
  debounceMs: number;
  onQuiet: () => Promise<void>;
  logger: Logger;
}

/**
 * Hot reload's trigger: a change under `dir` schedules one `onQuiet` after `debounceMs` of quiet. A directory that
 * cannot be watched is logged and left to reload on request only. `close()` stops it for good.
 */
export function watchDirectory(options: DirectoryWatchOptions): { close(): void } {
  const { dir, what, logger } = options;
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  const schedule = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      if (closed) return;
      options.onQuiet().catch((error: unknown) => logger.error({ msg: `${what} reload after a file change failed`, error: (error as Error).message }));
    }, options.debounceMs);
    debounce.unref();
  };
  try {
    watcher = watch(dir, { persistent: false, recursive: options.recursive ?? false }, (_event, file) => {
      if (file && !options.accept(String(file))) return;
      schedule();
    });
    watcher.on('error', (error) => logger.warn({ msg: `watching the ${what} directory failed; reload on request only`, dir, error: error.message }));
    logger.log({ msg: `watching ${what} directory`, dir });
  } catch (error) {
    logger.warn({ msg: `cannot watch the ${what} directory; reload on request only`, dir, error: (error as Error).message });
  }
  return {
    close() {
      closed = true;
      clearTimeout(debounce);
      watcher?.close();
    },
  };
}
