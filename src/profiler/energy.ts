import axios from 'axios';
import { type Logger, silentLogger, withoutCredentials } from '../shared/index.js';

export type EnergyStep = 'provision' | 'inject' | 'detect' | 'notify' | 'cleanup';

/**
 * OPNFV's energy recorder (DESIGN.md §4): tells it when the scenario starts,
 * each step, and when it stops, so the power drawn can be matched to them.
 * Every call is short and failures are logged, never fatal: after the first
 * failure the recorder is left alone for the rest of the run.
 */
export class EnergyRecorder {
  private enabled = true;
  private readonly base: string;
  /** Calls go out one after the other, in the order made, even when the caller does not wait for them. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly api: string,
    nodeName: string,
    private readonly opts: { scenario: string; logger?: Logger; timeoutMs?: number },
  ) {
    this.base = `${api.replace(/\/+$/, '')}/recorders/environment/${encodeURIComponent(nodeName)}`;
  }

  private get log(): Logger {
    return this.opts.logger ?? silentLogger();
  }

  /** Pings the API, then starts recording; false (and quiet afterwards) when the recorder is not there. */
  async start(): Promise<boolean> {
    const ping = await this.call('GET', `${this.api.replace(/\/+$/, '')}/monitoring/ping`);
    if (!ping || (ping.data as { status?: string } | undefined)?.status !== 'OK') {
      this.disable('the energy recorder did not answer its ping with {"status":"OK"}');
      return false;
    }
    return (await this.call('POST', this.base, { scenario: this.opts.scenario, step: 'running' })) !== undefined;
  }

  async step(step: EnergyStep): Promise<void> {
    await this.call('POST', `${this.base}/step`, { step });
  }

  async stop(): Promise<void> {
    await this.call('DELETE', this.base);
  }

  private disable(why: string): void {
    if (this.enabled) this.log.warn({ api: withoutCredentials(this.api) }, `${why}; not recording energy for this run`);
    this.enabled = false;
  }

  private call(method: 'GET' | 'POST' | 'DELETE', url: string, data?: unknown) {
    const next = this.queue.then(() => this.send(method, url, data));
    this.queue = next;
    return next;
  }

  private async send(method: 'GET' | 'POST' | 'DELETE', url: string, data?: unknown) {
    if (!this.enabled) return undefined;
    try {
      const res = await axios.request({ method, url, data, timeout: this.opts.timeoutMs ?? 3_000, validateStatus: () => true });
      if (res.status >= 200 && res.status < 300) return res;
      this.disable(`${method} ${withoutCredentials(url)} answered ${res.status}`);
    } catch (err) {
      this.disable(`${method} ${withoutCredentials(url)} failed: ${(err as Error).message}`);
    }
    return undefined;
  }
}
