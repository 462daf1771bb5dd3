import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/** Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host). */
function cgroup2Root(): string {
  const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  if (!line) throw new Error('no cgroup2 hierarchy is mounted (needed to cut one process\'s network with iptables -m cgroup)');
  return line.split(' ')[1]!;
}

/**
 * A cgroup of its own for one process, and an iptables rule (root namespace, OUTPUT) that drops the ICMP
 * its sockets send: that process's own network is cut for probing, while every other process, and its
 * own TCP (etcd, the inspector), go on. The rule can only name a cgroup that exists, so it is made first.
 */
export interface CutGroup {
  /** `spawn(cmd, args)` that starts `argv` inside the cgroup (the shell moves itself in, then execs). */
  wrap(argv: string[]): [string, string[]];
  cut(on: boolean): void;
  /** Packets the rule dropped so far: the cut happened, seen from outside the process. */
  dropped(): number;
  /** Takes the rule away and removes the cgroup (its processes must have exited). */
  remove(): void;
}

export function cutGroup(name: string): CutGroup {
  const rel = `doctor-test-${process.pid}-${name}`;
  const dir = join(cgroup2Root(), rel);
  mkdirSync(dir, { recursive: true });
  const rule = ['OUTPUT', '-p', 'icmp', '-m', 'cgroup', '--path', rel, '-j', 'DROP'];
  let on = false;
  const cut = (want: boolean) => {
    if (want === on) return;
    execFileSync('iptables', [want ? '-I' : '-D', ...rule]);
    on = want;
  };
  return {
    wrap: (argv) => ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, ...argv]],
    cut,
    dropped: () => {
      const line = execFileSync('iptables', ['-v', '-S', 'OUTPUT'], { encoding: 'utf8' }).split('\n').find((l) => l.includes(`--path ${rel} `));
      return Number(/ -c (\d+) /.exec(line ?? '')?.[1] ?? 0);
    },
    remove: () => {
      cut(false);
      rmdirSync(dir);
    },
  };
}
