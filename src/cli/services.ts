import { ConfigError, listen, preciseNow } from '../shared/index.js';
import { readText, untilSignal } from './common.js';
import { createOpenStackClient, loadCredentials } from '../openstack/index.js';
import { createInspectorApp, Inspector } from '../inspector/index.js';
import { Consumer, createConsumerApp, type ReceivedAlarm } from '../consumer/index.js';
import { parseTraceResets, TRACE_RESETS_RULE } from '../orchestrator/settings/index.js';


function port(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(flag, `"${v}" is not a TCP port`);
  return n;
}


export interface InspectorFlags {
  port: string;
  host: string;
  respond: string;
  vmLookup: string;
  concurrency: string;
  traceResets: string;
}

/** `doctor inspector`: the sample inspector against the cloud in OS_* / clouds.yaml. */
export async function runInspector(flags: InspectorFlags, env: NodeJS.ProcessEnv, out: (l: string) => void): Promise<void> {
  if (flags.respond !== 'done' && flags.respond !== 'accepted') throw new ConfigError('--respond', `"${flags.respond}" must be done or accepted`);
  if (flags.vmLookup !== 'cache' && flags.vmLookup !== 'event') throw new ConfigError('--vm-lookup', `"${flags.vmLookup}" must be cache or event`);
  const concurrency = flags.concurrency === 'adaptive' ? 'adaptive' : Number(flags.concurrency);
  if (concurrency !== 'adaptive' && (!Number.isInteger(concurrency) || concurrency < 1)) throw new ConfigError('--concurrency', `"${flags.concurrency}" must be adaptive or a whole number ≥ 1`);
  const traceResets = parseTraceResets(flags.traceResets);
  if (traceResets === undefined) throw new ConfigError('--trace-resets', `"${flags.traceResets}" ${TRACE_RESETS_RULE}`);
  const client = createOpenStackClient({ credentials: loadCredentials(env, readText) });
  const inspector = new Inspector(client.compute, { vmLookup: flags.vmLookup as 'cache' | 'event', concurrency, traceResets });
  await inspector.prime();
  const token = env['DOCTOR_INSPECTOR_TOKEN'];
  const svc = await listen(createInspectorApp(inspector, { respond: flags.respond as 'done' | 'accepted', ...(token ? { token } : {}) }), { host: flags.host, port: port('--port', flags.port), name: 'the inspector' });
  out(`doctor inspector listening on ${svc.url} (PUT /events, POST /v1/event${token ? '; token required' : ''}); Ctrl-C stops and clears force-down`);
  await untilSignal();
  await svc.close();
  for (const e of await inspector.stop()) out(`warning: ${e}`);
  client.close();
}

export interface ConsumerFlags {
  port: string;
  host: string;
  json?: boolean;
}

/** `doctor consumer`: the webhook Aodh calls; prints each alarm as it arrives. */
export async function runConsumer(flags: ConsumerFlags, out: (l: string) => void): Promise<void> {
  const consumer = new Consumer();
  const app = createConsumerApp(consumer, preciseNow);
  const svc = await listen(app, { host: flags.host, port: port('--port', flags.port), name: 'the consumer' });
  const seen = new Set<string>();
  const show = (a: ReceivedAlarm) =>
    out(flags.json ? JSON.stringify(a) : `${new Date(a.firstAt).toISOString()} alarm ${a.alarmName} (${a.alarmId}) ${a.previous} -> ${a.current}${a.instanceId ? ` for VM ${a.instanceId}` : ''}`);
  const timer = setInterval(() => {
    for (const a of consumer.received()) if (!seen.has(a.alarmId)) {
      seen.add(a.alarmId);
      show(a);
    }
  }, 100);
  out(`doctor consumer listening on ${svc.url}/failure; Ctrl-C stops`);
  await untilSignal();
  clearInterval(timer);
  await svc.close();
}
