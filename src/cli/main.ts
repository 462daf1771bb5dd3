/** `doctor`: the command line. Only this layer reads process.env and argv. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { HarnessError } from '../shared/index.js';
import { DEFAULT_PORTS, RESTARTABLE_SERVICES } from '../lab/catalog/index.js';
import { FAULT_CHOICES, runOptions } from '../orchestrator/settings/index.js';
import { REPORT_FORMATS, type LabHostFlags } from './common.js';
import type { LabCloudFlags } from './lab-cloud.js';
import type { MonitorFlags } from './monitor.js';
import type { InjectFlags } from './inject.js';
import type { ConsumerFlags, InspectorFlags } from './services.js';
import type { RunFlags } from './run.js';
import type { OpenStackFlags } from './lab-openstack.js';

// Each command loads its own modules when it runs (import() in its action), not every command's: a
// `doctor monitor` of thousands of hosts holds the monitor, not the lab's cloud, the orchestrator and the
// reports. Measured with /usr/bin/time: `doctor --version` took 0.59 s and 107 MiB when every command's
// modules loaded, 0.29 s and 71 MiB now.
const runCmd = () => import('./run.js');
const labHosts = () => import('./lab-hosts.js');
const labOpenStack = () => import('./lab-openstack.js');
const services = () => import('./services.js');

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

let stdoutClosed = false;
const print = (line: string): void => {
  if (!stdoutClosed) process.stdout.write(`${line}\n`);
};

/**
 * A reader that went away (`doctor monitor --json | head -1`): stop writing. A command that is
 * listening for SIGTERM (a monitor, a service, a run in progress) stops as on SIGTERM, as Unix tools
 * do on SIGPIPE, so it still cleans up through its handler instead of dying on an unhandled EPIPE.
 * A command that is not (a report, a run past its cleanup) finishes its work without printing: a run
 * still records its history and exits with its verdict, where a SIGTERM with no handler would kill it.
 */
function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') {
    process.stderr.write(`doctor: cannot write to stdout: ${err.message}\n`);
    process.exitCode = 2;
  }
  if (stdoutClosed) return;
  stdoutClosed = true;
  if (process.listenerCount('SIGTERM') > 0) process.kill(process.pid, 'SIGTERM');
}

export function buildProgram(): Command {
  const program = new Command('doctor')
    .description('OPNFV Doctor fault-management test harness: measures host failure → VNF consumer notification time')
    .version(pkg.version)
    .showHelpAfterError();

  const run = program
    .command('run')
    .description('run the Doctor fault-management scenario (on the embedded lab unless a cloud is configured)');
  for (const [flags, help] of runOptions()) run.option(flags, help);
  run
    .option('--config <file>', 'a YAML or JSON file with any of these settings (camelCase keys)')
    .action(async (flags: RunFlags) => {
      process.exitCode = await (await runCmd()).runScenario(flags, process.env, print);
    });
  program
    .command('cleanup')
    .description('remove what runs that died left behind (cloud resources, lab hosts), from their ledgers')
    .action(async () => {
      process.exitCode = await (await runCmd()).runCleanup(process.env, print);
    });

  program
    .command('report')
    .description('render a finished run again (console profile, JUnit XML, profile JSON or HTML), list past runs, or compare two')
    .argument('[results]', 'a run\'s results.json (or its folder, or its run id from the history)')
    .option('--format <format>', `one of ${REPORT_FORMATS.join(', ')}`, 'text')
    .option('--compare <runs...>', 'two runs side by side: results.json paths or run ids')
    .option('--list', 'the runs this machine has kept (newest last)')
    .action(async (ref: string | undefined, flags: { format: string; compare?: string[]; list?: boolean }) => {
      process.exitCode = (await import('./report.js')).runReportCommand(ref, flags, process.env, print);
    });

  const lab = program.command('lab').description('the embedded lab (simulated OpenStack and compute hosts)');
  const labFlags = (c: Command) =>
    c.option('--lab-id <id>', 'names the lab (1-5 lowercase letters or digits)', 'main').option('--state-dir <dir>', 'lab state folder (default ~/.local/state/doctor-harness/lab-<id>)');
  const os = lab.command('openstack').description('the all-in-one lab of real OpenStack services from Debian packages (Keystone, Nova, Neutron, Glance, Placement, Ceilometer, Aodh) with fake computes on namespace hosts');
  const osFlags = (c: Command) => c.option('--state-dir <dir>', 'lab folder', '/var/lib/doctor-harness/openstack');
  osFlags(os.command('up').description('configure and start the services in a controller namespace host, the fake computes on compute hosts (packages: ./scripts/setup --openstack)'))
    .option('--computes <n>', 'fake nova-computes, each on its own namespace host', '2')
    .option('--nova-api-workers <n>', 'processes serving Nova\'s API (default 2; more lets reset-state calls run side by side)')
    .option('--lab-id <id>', 'names the namespace hosts (1-5 lowercase letters or digits)', 'aio')
    .option('--ports <list>', `ports to use instead of the defaults, e.g. keystone=5001,nova=8775, or "auto" for free ones (defaults: ${Object.entries(DEFAULT_PORTS).map(([k, v]) => `${k}=${v}`).join(',')})`)
    .action(async (flags: OpenStackFlags) => {
    await (await labOpenStack()).runOpenStackUp(flags, print);
  });
  osFlags(os.command('down').description('stop exactly the lab\'s services and remove its folder')).action(async (flags: OpenStackFlags) => {
    await (await labOpenStack()).runOpenStackDown(flags, print);
  });
  osFlags(os.command('restart').argument('<service>', `one of ${RESTARTABLE_SERVICES.join(', ')}`)
    .description('restart one service on its files as they are; returns once it works again (a run\'s controller set-up calls it over SSH)'))
    .action(async (service: string, flags: OpenStackFlags) => {
      await (await labOpenStack()).runOpenStackRestart(service, flags, print);
    });
  osFlags(os.command('status').description('which services run; exit 1 unless all do')).action(async (flags: OpenStackFlags) => {
    process.exitCode = (await labOpenStack()).runOpenStackStatus(flags, print);
  });
  labFlags(lab.command('up').description('create the compute hosts: network namespaces with sshd, in 198.18.0.0/15'))
    .option('--hosts <n>', 'how many compute hosts', '2')
    .option('--controller', 'also a controller host (its sshd allows reverse tunnels, as a real controller\'s does)')
    .option('--addresses-per-host <n>', 'more addresses each compute answers ICMP and TCP on (a monitor at scale: 5000 hosts on one namespace); doctor lab status lists them', '0')
    .action(async (flags: LabHostFlags & { hosts: string; controller?: boolean; addressesPerHost: string }) => {
      await (await labHosts()).runLabUp(flags, process.env, print);
    });
  labFlags(lab.command('down').description('remove the compute hosts and everything they left (also after a crash)')).action(async (flags: LabHostFlags) => {
    await (await labHosts()).runLabDown(flags, process.env, print);
  });
  labFlags(lab.command('status').description('show the compute hosts; exit 1 unless all are healthy'))
    .option('--json', 'machine-readable output')
    .action(async (flags: LabHostFlags & { json?: boolean }) => {
      process.exitCode = await (await labHosts()).runLabStatus(flags, process.env, print);
    });
  lab
    .command('cloud')
    .description('run the simulated OpenStack (Keystone, Nova, Glance, Neutron, Aodh) in the foreground')
    .option('--port <port>', 'TCP port (0 = any free port)', '0')
    .option('--host <address>', 'address to bind (loopback unless you mean otherwise)', '127.0.0.1')
    .option('--hosts <list>', 'compute hosts as NAME=IP,… (default compute-1=198.18.0.2,compute-2=198.18.0.6)')
    .option('--build-delay <ms>', 'BUILD → ACTIVE delay per server', '100')
    .option('--latency <list>', 'per-hop latency of the notification chain, e.g. notify=5,transform=10,evaluate=5,fire=1,deliver=2')
    .option('--compute-max <version>', 'highest compute microversion to offer (default 2.93)')
    .option('--state-dir <dir>', 'where clouds.yaml and the admin password are written')
    .option('--lab-id <id>', 'serve the compute hosts of this lab (from doctor lab up) unless --hosts is given', 'main')
    .option('--until-stdin-closes', 'also stop when stdin closes (how doctor run starts it: it goes when the run goes)')
    .action(async (flags: LabCloudFlags & { labId: string }) => {
      const fromLab = flags.hosts ? undefined : (await labHosts()).labHostsFor({ labId: flags.labId }, process.env);
      await (await import('./lab-cloud.js')).runLabCloud({ ...flags, ...(fromLab ? { hostList: fromLab } : {}) }, process.env, print);
    });
  program
    .command('monitor')
    .description('ICMP-probe compute hosts and report compute.host.down to an inspector (Doctor sample monitor)')
    .option('--host <name=ip>', 'a host to watch (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--hosts-file <path>', 'more hosts to watch, one NAME=IP per line (# comments)')
    .option('--hosts-from-nova', 'watch every compute host in Nova\'s hypervisor records (cloud from OS_* or clouds.yaml), read again every --refresh')
    .requiredOption('--inspector <url>', 'inspector base URL, e.g. http://127.0.0.1:12345 (token from DOCTOR_INSPECTOR_TOKEN)')
    .option('--shape <shape>', 'doctor (PUT /events, a list) or vitrage (POST /v1/event)', 'doctor')
    .option('--profile <name>', 'doctor (100 ms, 100 ms, k=1) or fast (5 ms, 15 ms, k=4)', 'doctor')
    .option('--interval <ms>', 'probe interval (overrides the profile)')
    .option('--timeout <ms>', 'reply timeout (overrides the profile)')
    .option('--k <n>', 'consecutive losses that mean down (overrides the profile)')
    .option('--lab-id <id>', 'lab whose links lab addresses must use', 'main')
    .option('--state-dir <dir>', 'that lab\'s state folder')
    .option('--json', 'JSON lines instead of text')
    .option('--join <url>', 'join a monitor fleet on etcd (etcd://HOST:PORT[,HOST:PORT]) and probe only this agent\'s share of the hosts')
    .option('--group <name>', 'fleet name (agents of one fleet share it)', 'default')
    .option('--agent-id <id>', 'this agent\'s name in the fleet (default: the machine\'s hostname)')
    .option('--replicas <n>', 'owners per host; a majority of them must see it down', '1')
    .option('--ttl <s>', 'etcd lease TTL: a dead agent\'s hosts move to the others this long after', '5')
    .option('--self-check <name=ip>', 'this agent\'s own gateway or a peer (repeatable); no vote while none answers', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--refresh <s>', 'read the host list again this often', '10')
    .action(async (flags: MonitorFlags) => {
      await (await import('./monitor.js')).runMonitor(flags, process.env, print);
    });
  program
    .command('inject')
    .description('make a fault on a compute host over SSH (its link down, by default); the host puts it back by itself after --duration')
    .requiredOption('--host <name=ip>', 'the compute host and the IP the fault is about')
    .option('--fault <name[:param]>', `the fault: ${FAULT_CHOICES} (as doctor run --fault)`, 'link-down')
    .option('--duration <s>', 'seconds the fault lasts (1-3600)', '30')
    .option('--user <name>', 'SSH user (root, or one with passwordless sudo for ip and iptables)', 'root')
    .option('--port <n>', 'SSH port', '22')
    .option('--key <path>', 'SSH private key (default SSH_KEY, or the lab key for lab hosts)')
    .option('--known-hosts <path>', 'known_hosts to verify the host key (default: the lab\'s for lab hosts)')
    .option('--insecure-skip-host-key-check', 'do not verify the SSH host key (explicit opt-out)')
    .option('--no-wait', 'return once the fault is started instead of waiting for it to be put back')
    .option('--lab-id <id>', 'lab of lab addresses', 'main')
    .option('--state-dir <dir>', 'that lab\'s state folder')
    .action(async (flags: InjectFlags) => {
      await (await import('./inject.js')).runInject(flags, process.env, print);
    });
  program
    .command('inspector')
    .description('run the sample inspector (cloud from OS_* or clouds.yaml; token from DOCTOR_INSPECTOR_TOKEN)')
    .option('--port <n>', 'TCP port', '12345')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--respond <when>', 'done (after every action, as Doctor) or accepted (202 at once)', 'done')
    .option('--vm-lookup <how>', 'cache (refreshed on a miss and every 30 s) or event (list at event time)', 'cache')
    .option('--concurrency <n>', 'reset-state calls in flight: adaptive (from 16, more while few calls wait in Nova\'s queue, fewer when they pile up or it answers 429/503, 1 to 64) or a fixed number', 'adaptive')
    .option('--trace-resets <n>', 'with OSProfiler on (OS_PROFILE or clouds.yaml profile): how many reset-state calls per host carry the trace headers, the last always among them, or all (each costs nova-api its spans)', '3')
    .action(async (flags: InspectorFlags) => {
      await (await services()).runInspector(flags, process.env, print);
    });
  program
    .command('consumer')
    .description('run the consumer webhook that receives the Aodh alarms (POST /failure)')
    .option('--port <n>', 'TCP port', '12346')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--json', 'JSON lines instead of text')
    .action(async (flags: ConsumerFlags) => {
      await (await services()).runConsumer(flags, print);
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  process.stdout.on('error', onStdoutError);
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof HarnessError) {
      process.stderr.write(`doctor: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`doctor: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  },
);
