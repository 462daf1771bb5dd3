/**
 * Role-play installers: a namespace host with sshd that plays an installer's node for the multi-node
 * lab, its commands (first in PATH) answering in the real tools' output formats and listing the lab's
 * controller and computes.
 * - apex: a TripleO undercloud. `stack` has `~/stackrc`, `~/.ssh/id_rsa` (the key the lab's hosts accept)
 *   and an `openstack` that answers `server list -f json` as python-openstackclient does (the controller as
 *   overcloud-controller-0, the computes as overcloud-novacompute-N, ctlplane = their lab address); the
 *   nodes are reached as `heat-admin` with sudo.
 * - mcp: a salt master. `ubuntu` runs `sudo salt '*' --out yaml pillar.get _param:single_address`, answered
 *   as salt does (ctl01, cmp001…, cfg01 itself); the nodes take the same key, as `ubuntu` with sudo.
 * On both, `ssh-keyscan` prints the lab hosts' keys, as the real one would over the nodes' network. The
 * users, their sudoers file and the host are removed by `remove`. Needs root.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LabHostState, LabState } from '../../src/lab/index.js';
import { temporaryLab } from './hosts.js';

export interface InstallerHost {
  ip: string;
  /** What the run logs in to the installer's node with (SSH_KEY, --known-hosts). */
  sshKey: string;
  knownHosts: string;
  remove(): Promise<void>;
}

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

const script = (lines: string[]) => `${['#!/bin/sh', ...lines].join('\n')}\n`;

/**
 * The installer's host and its users (each with sudo, its home on the host); `play` writes what the
 * installer's node holds into the host's bin/ and the users' homes.
 */
async function installerHost(overcloud: LabState, users: string[], play: (host: LabHostState, home: (u: string) => string, uid: (u: string) => number) => void): Promise<InstallerHost> {
  const clash = users.filter(userExists);
  if (clash.length) throw new Error(`the role-play installer needs its own users, and ${clash.join(', ')} already exist on this machine`);
  const lab = await temporaryLab(1, 'doctor-installer-');
  const host = lab.state.hosts[0]!;
  const bin = join(host.dir, 'bin');
  const sudoers = `/etc/sudoers.d/doctor-roleplay-${lab.state.labId}`;
  const created: string[] = [];
  const remove = async () => {
    rmSync(sudoers, { force: true });
    for (const u of created) execFileSync('userdel', [u]);
    await lab.remove();
  };
  try {
    const home = (u: string) => join(host.dir, 'home', u);
    for (const u of users) {
      mkdirSync(join(home(u), '.ssh'), { recursive: true });
      execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', home(u), '--shell', '/bin/sh', u]);
      created.push(u);
      // sshd without PAM refuses a locked account ("!"); "*" has no password and is not locked.
      execFileSync('usermod', ['-p', '*', u]);
      traversable(join(home(u), '.ssh'));
    }
    // sudo finds the installer's tools (salt) in the host's bin/ first, as the real node has them installed.
    writeFileSync(sudoers, users.map((u) => `Defaults:${u} secure_path="${bin}:/usr/sbin:/usr/bin:/sbin:/bin"\n${u} ALL=(ALL) NOPASSWD: ALL\n`).join(''), { mode: 0o440 });
    mkdirSync(bin, { recursive: true });
    const keys = [overcloud.controller!, ...overcloud.hosts].map((h) => `${h.hostIp} ${h.hostKey}`);
    writeFileSync(join(bin, 'ssh-keyscan'), script(['# role-play of ssh-keyscan over the nodes\' network: their host keys', `cat <<'EOF'\n${keys.join('\n')}\nEOF`]), { mode: 0o755 });
    play(host, home, (u) => Number(execFileSync('id', ['-u', u], { encoding: 'utf8' }).trim()));
    // The nodes' users log in with the lab's key: sshd reads authorized_keys as the user.
    for (const h of [host, overcloud.controller!, ...overcloud.hosts]) {
      traversable(h.dir);
      if (existsSync(join(h.dir, 'authorized_keys'))) chmodSync(join(h.dir, 'authorized_keys'), 0o644);
    }
    traversable(bin);
    return { ip: host.hostIp, sshKey: lab.state.harnessKey, knownHosts: lab.state.knownHosts, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A TripleO undercloud listing the lab's hosts as its overcloud. */
export function apexUndercloud(overcloud: LabState): Promise<InstallerHost> {
  return installerHost(overcloud, ['stack', 'heat-admin'], (host, home, uid) => {
    const stack = home('stack');
    writeFileSync(join(stack, 'stackrc'), '# the undercloud\'s credentials (role-play: the openstack command below needs none)\nexport OS_CLOUD=undercloud\n');
    writeFileSync(join(stack, 'deploy_command'), 'openstack overcloud deploy --templates -e network-environment.yaml\n');
    copyFileSync(overcloud.harnessKey, join(stack, '.ssh', 'id_rsa'));
    chmodSync(join(stack, '.ssh', 'id_rsa'), 0o600);
    for (const f of [stack, join(stack, '.ssh'), join(stack, '.ssh', 'id_rsa'), join(stack, 'stackrc'), join(stack, 'deploy_command')]) chownSync(f, uid('stack'), 0);
    const ctl = overcloud.controller!;
    const servers = [
      { ID: '7d3e1a52-0000-4000-8000-000000000001', Name: 'overcloud-controller-0', Status: 'ACTIVE', Networks: { ctlplane: [ctl.hostIp] }, Image: 'overcloud-full', Flavor: 'control' },
      ...overcloud.hosts.map((h, i) => ({
        ID: `7d3e1a52-0000-4000-8000-00000000001${i}`, Name: `overcloud-novacompute-${i}`, Status: 'ACTIVE', Networks: { ctlplane: [h.hostIp] }, Image: 'overcloud-full', Flavor: 'compute',
      })),
    ];
    writeFileSync(join(host.dir, 'bin', 'openstack'), script([
      '# role-play of python-openstackclient on a TripleO undercloud: only `server list -f json`',
      'if [ "$*" = "server list -f json" ]; then', `  cat <<'EOF'\n${JSON.stringify(servers, null, 2)}\nEOF`, '  exit 0', 'fi',
      'echo "openstack: the role-play undercloud answers only \'server list -f json\' (got: $*)" >&2', 'exit 2',
    ]), { mode: 0o755 });
  });
}

/** An MCP salt master whose minions are the lab's hosts; it and they take the lab's key, as ubuntu. */
export async function mcpSaltMaster(overcloud: LabState): Promise<InstallerHost> {
  const master = await installerHost(overcloud, ['ubuntu'], (host) => {
    appendFileSync(join(host.dir, 'authorized_keys'), readFileSync(`${overcloud.harnessKey}.pub`, 'utf8'));
    const domain = 'mcp-pike-ovs-ha.local';
    const minions = [
      `cfg01.${domain}: ${host.hostIp}`, `ctl01.${domain}: ${overcloud.controller!.hostIp}`,
      ...overcloud.hosts.map((h, i) => `cmp${String(i + 1).padStart(3, '0')}.${domain}: ${h.hostIp}`), `prx01.${domain}: ''`,
    ];
    writeFileSync(join(host.dir, 'bin', 'salt'), script([
      '# role-play of salt on an MCP salt master: only `salt \'*\' --out yaml pillar.get _param:single_address`',
      '[ "$(id -u)" -eq 0 ] || { echo "salt: must run as root (sudo)" >&2; exit 1; }',
      'if [ "$*" = "* --out yaml pillar.get _param:single_address" ]; then', `  cat <<'EOF'\n${minions.join('\n')}\nEOF`, '  exit 0', 'fi',
      'echo "salt: the role-play salt master answers only pillar.get _param:single_address (got: $*)" >&2', 'exit 2',
    ]), { mode: 0o755 });
  });
  return { ...master, sshKey: overcloud.harnessKey }; // one key for the master and the nodes
}
