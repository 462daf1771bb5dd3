import type { LabState } from '../../src/lab/index.js';
import { InspectorReporter, Monitor, openIcmp, type HostDownEvent, type HostUpEvent } from '../../src/monitor/index.js';
import { temporaryLab } from './hosts.js';
import { recordingServer, type RecordingServer } from './http.js';

/** A temporary lab and a recording inspector stand-in, for tests that watch real hosts. */
export async function labWithInspector(hosts: number, prefix: string): Promise<{ state: LabState; inspector: RecordingServer; remove: () => Promise<void> }> {
  const lab = await temporaryLab(hosts, prefix);
  const inspector = await recordingServer();
  return {
    state: lab.state,
    inspector,
    remove: async () => {
      await inspector.close();
      await lab.remove();
    },
  };
}

/** The real ICMP monitor on every lab host, reporting each down to `inspectorUrl`. */
export async function watchLab(state: LabState, inspectorUrl: string): Promise<{ monitor: Monitor; downs: HostDownEvent[]; ups: HostUpEvent[] }> {
  const monitor = new Monitor({ hosts: state.hosts.map((h) => ({ name: h.name, ip: h.hostIp })), transport: await openIcmp(process.env) });
  const reporter = new InspectorReporter({ url: inspectorUrl });
  const downs: HostDownEvent[] = [];
  const ups: HostUpEvent[] = [];
  monitor.on('down', (e: HostDownEvent) => {
    downs.push(e);
    void reporter.report(e.host, e.detectedAt);
  });
  monitor.on('up', (e: HostUpEvent) => ups.push(e));
  await monitor.start();
  return { monitor, downs, ups };
}
