/** `doctor`: the command line. Only this layer reads process.env and argv. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { HarnessError } from '../shared/index.js';
import { runLabCloud, type LabCloudFlags } from './lab-cloud.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('doctor')
    .description('OPNFV Doctor fault-management test harness: measures host failure → VNF consumer notification time')
    .version(pkg.version)
    .showHelpAfterError();

  const lab = program.command('lab').description('the embedded lab (simulated OpenStack and compute hosts)');
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
    .action(async (flags: LabCloudFlags) => {
      await runLabCloud(flags, process.env, (line) => process.stdout.write(`${line}\n`));
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
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
