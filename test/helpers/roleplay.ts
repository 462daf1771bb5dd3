/**
 * Role-play installers: a namespace host with sshd that plays a TripleO undercloud for the multi-node
 * lab. Its user `stack` has `~/stackrc`, `~/.ssh/id_rsa` (the key the lab's hosts accept) and an
 * `openstack` first in PATH that answers `server list -f json` as python-openstackclient does, listing the
 * lab's controller as overcloud-controller-0 and its computes as overcloud-novacompute-N (ctlplane = their
 * lab address); `ssh-keyscan` there prints the lab hosts' keys, as the real one would over ctlplane. The
 * nodes are reached as `heat-admin` with sudo, as on an overcloud. Users, sudoers and the host are removed
 * by `remove`. Needs root.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LabState } from '../../src/lab/index.js';
import { temporaryLab } from './hosts.js';

export interface Undercloud {
  ip: string;
  /** What the run logs in to the undercloud with (SSH_KEY, --known-hosts). */
  sshKey: string;
  knownHosts: string;
  remove(): Promise<void>;
}

const USERS = ['stack', 'heat-admin'] as const;

function userExists(name: string): boolean {
  try {
    execFileSync('getent', ['passwd', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Lets a user other than root traverse from / to `path` (the lab's folders are 0700). */
function traversable(path: string): void {
  for (let p = path; p !== dirname(p); p = dirname(p)) {
    if (p.startsWith('/tmp/') || p.startsWith('/var/lib/doctor-harness')) chmodSync(p, 0o711);
  }
}

export async function apexUndercloud(overcloud: LabState): Promise<Undercloud> {
  const clash = USERS.filter(userExists);
  if (clash.length) throw new Error(`the role-play undercloud needs its own users, and ${clash.join(', ')} already exist on this machine`);
  const lab = await temporaryLab(1, 'doctor-undercloud-');
  const host = lab.state.hosts[0]!;
  const sudoers = `/etc/sudoers.d/doctor-roleplay-${lab.state.labId}`;
  const created: string[] = [];
  const remove = async () => {
    rmSync(sudoers, { force: true });
    for (const u of created) execFileSync('userdel', [u]);
    await lab.remove();
  };
  try {
    const home = (u: string) => join(host.dir, 'home', u);
    for (const u of USERS) {
      mkdirSync(join(home(u), '.ssh'), { recursive: true });
      execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', home(u), '--shell', '/bin/sh', u]);
      created.push(u);
      // sshd without PAM refuses a locked account ("!"); "*" has no password and is not locked.
      execFileSync('usermod', ['-p', '*', u]);
    }
    writeFileSync(sudoers, USERS.map((u) => `${u} ALL=(ALL) NOPASSWD: ALL\n`).join(''), { mode: 0o440 });

    // stack's home on the undercloud: its credentials file, the overcloud's key, how the overcloud was deployed.
    const stack = home('stack');
    writeFileSync(join(stack, 'stackrc'), '# the undercloud\'s credentials (role-play: the openstack command below needs none)\nexport OS_CLOUD=undercloud\n');
    writeFileSync(join(stack, 'deploy_command'), 'openstack overcloud deploy --templates -e network-environment.yaml\n');
    copyFileSync(overcloud.harnessKey, join(stack, '.ssh', 'id_rsa'));
    chmodSync(join(stack, '.ssh', 'id_rsa'), 0o600);
    const uid = Number(execFileSync('id', ['-u', 'stack'], { encoding: 'utf8' }).trim());
    for (const f of [stack, join(stack, '.ssh'), join(stack, '.ssh', 'id_rsa'), join(stack, 'stackrc'), join(stack, 'deploy_command')]) chownSync(f, uid, 0);

    const ctl = overcloud.controller!;
    const servers = [
      { ID: '7d3e1a52-0000-4000-8000-000000000001', Name: 'overcloud-controller-0', Status: 'ACTIVE', Networks: { ctlplane: [ctl.hostIp] }, Image: 'overcloud-full', Flavor: 'control' },
      ...overcloud.hosts.map((h, i) => ({
        ID: `7d3e1a52-0000-4000-8000-00000000001${i}`, Name: `overcloud-novacompute-${i}`, Status: 'ACTIVE', Networks: { ctlplane: [h.hostIp] }, Image: 'overcloud-full', Flavor: 'compute',
      })),
    ];
    const bin = join(host.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'openstack'), [
      '#!/bin/sh', '# role-play of python-openstackclient on a TripleO undercloud: only `server list -f json`',
      'if [ "$*" = "server list -f json" ]; then', `  cat <<'EOF'\n${JSON.stringify(servers, null, 2)}\nEOF`, '  exit 0', 'fi',
      'echo "openstack: the role-play undercloud answers only \'server list -f json\' (got: $*)" >&2', 'exit 2', '',
    ].join('\n'), { mode: 0o755 });
    const keys = [ctl, ...overcloud.hosts].map((h) => `${h.hostIp} ${h.hostKey}`);
    writeFileSync(join(bin, 'ssh-keyscan'), [
      '#!/bin/sh', '# role-play of ssh-keyscan over the ctlplane: the overcloud nodes\' host keys', `cat <<'EOF'\n${keys.join('\n')}\nEOF`, '',
    ].join('\n'), { mode: 0o755 });

    // heat-admin on the overcloud nodes: sshd reads their authorized_keys as the user.
    for (const h of [ctl, ...overcloud.hosts]) {
      traversable(h.dir);
      if (existsSync(join(h.dir, 'authorized_keys'))) chmodSync(join(h.dir, 'authorized_keys'), 0o644);
    }
    traversable(home('heat-admin'));
    chmodSync(join(host.dir, 'authorized_keys'), 0o644); // stack's, on the undercloud
    traversable(join(stack, '.ssh'));
    traversable(bin);
    return { ip: host.hostIp, sshKey: lab.state.harnessKey, knownHosts: lab.state.knownHosts, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
