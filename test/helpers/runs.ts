import { runFaultManagement, type RunConfig, type RunDeps, type RunResults } from '../../src/orchestrator/index.js';

/** Runs still going: a test that times out leaves its run running, with its lab and cloud resources. */
const inFlight = new Set<{ ac: AbortController; done: Promise<RunResults> }>();

/** runFaultManagement, abortable by abortRuns(). */
export function trackedRun(config: Readonly<RunConfig>, deps: RunDeps): Promise<RunResults> {
  const ac = new AbortController();
  if (deps.signal.aborted) ac.abort(deps.signal.reason);
  deps.signal.addEventListener('abort', () => ac.abort(deps.signal.reason), { once: true });
  const entry = { ac, done: runFaultManagement(config, { ...deps, signal: ac.signal }) };
  inFlight.add(entry);
  void entry.done.finally(() => inFlight.delete(entry)).catch(() => undefined);
  return entry.done;
}

/** Interrupts every run still going and waits for its own cleanup: call it first in afterAll, before removing folders. */
export async function abortRuns(): Promise<void> {
  for (const r of inFlight) r.ac.abort(new Error('the test ended before the run'));
  await Promise.allSettled([...inFlight].map((r) => r.done));
}
