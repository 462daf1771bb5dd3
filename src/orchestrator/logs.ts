import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger, makeDir, type Logger } from '../shared/index.js';

/** One JSON-lines log file per component in the results folder. */
export function componentLoggers(dir: string, level: string, runId: string): { get(component: string): Logger; flush(): void } {
  makeDir(dir, '--results-dir');
  const destinations: Array<ReturnType<typeof pino.destination>> = [];
  const cache = new Map<string, Logger>();
  return {
    get(component) {
      let l = cache.get(component);
      if (!l) {
        const destination = pino.destination({ dest: join(dir, `${component}.log`), sync: true, mkdir: true });
        destinations.push(destination);
        l = createLogger({ level, component, runId, destination });
        cache.set(component, l);
      }
      return l;
    },
    flush() {
      for (const d of destinations) d.flushSync();
    },
  };
}
