import { randomBytes } from 'node:crypto';
import { ConfigError, FaultInjectionError, preciseNow } from '../../shared/index.js';
import { HostKeyError, SshSession, type SshAuth, type SshTarget } from './ssh.js';

export const MIN_FAULT_SECONDS = 1;
export const DEFAULT_FAULT_SECONDS = 30;

/**
 * Runs on the compute host: finds the interface holding the compute IP, waits
 * for the SSH session that started it to end (bounded, so it never hangs),
 * takes the link down, logs the instant, restores it after the duration and
 * logs that. It is started with setsid/nohup, so the link comes back even if
 * the harness dies or its SSH session (which used that link) is cut.
 */
export const LINK_DOWN_SCRIPT = `#!/bin/bash
# doctor-harness link-down fault: $1 compute IP, $2 seconds down, $3 PID of the SSH session to outwait
set -u
ip_addr=$1; duration=$2; session=$3
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
echo "start $(date +%s.%N)"
dev=$(ip -o -4 addr show | awk -v a="$ip_addr" '{split($4, p, "/"); if (p[1] == a) {print $2; exit}}')
if [ -z "$dev" ]; then echo "error no interface holds $ip_addr"; exit 3; fi
echo "dev $dev"
for _ in $(seq 500); do kill -0 "$session" 2>/dev/null || break; sleep 0.01; done
$SUDO ip link set dev "$dev" down || { echo "error ip link set dev $dev down failed"; exit 4; }
echo "down $(date +%s.%N)"
sleep "$duration"
$SUDO ip link set dev "$dev" up || { echo "error ip link set dev $dev up failed"; exit 5; }
echo "up $(date +%s.%N)"
`;

export interface LinkDownRequest {
  /** Where to SSH (often the compute IP itself). */
  target: SshTarget;
  /** The compute IP whose interface goes down. */
  computeIp: string;
  durationS?: number;
  /** Where the script and its log go on the host (default /tmp). */
  remoteDir?: string;
}

/** Where a fault's script and log go on the host, known before anything is sent (so cleanup can find them). */
export interface FaultPlan {
  host: string;
  computeIp: string;
  durationS: number;
  scriptPath: string;
  logPath: string;
}

export interface InjectedFault extends FaultPlan {
  /** Harness clock when the script was started. */
  startedAt: number;
  /** The script's PID on the host (it leads its own session). */
  pid?: number;
}

export interface FaultLog {
  dev?: string;
  /** Epoch ms on the compute host's clock: the link was down from here... */
  downAt?: number;
  /** ...to here. */
  upAt?: number;
  error?: string;
  raw: string;
}

export function validateDuration(durationS: number | undefined): number {
  const d = durationS ?? DEFAULT_FAULT_SECONDS;
  if (!Number.isFinite(d) || d < MIN_FAULT_SECONDS || d > 3600) {
    throw new ConfigError('--duration', `${durationS} s is out of range: a fault lasts from ${MIN_FAULT_SECONDS} to 3600 seconds`);
  }
  return d;
}

/** Validates a request and names the script and log files it will use. */
export function planLinkDown(req: LinkDownRequest): FaultPlan {
  const durationS = validateDuration(req.durationS);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(req.computeIp)) throw new ConfigError('computeIp', `"${req.computeIp}" is not an IPv4 address`);
  const id = `${Date.now()}-${randomBytes(3).toString('hex')}`;
  const dir = (req.remoteDir ?? '/tmp').replace(/\/+$/, '');
  if (!/^\/[\w./-]*$/.test(dir)) throw new ConfigError('remoteDir', `"${req.remoteDir}" must be an absolute path of letters, digits, _ . / -`);
  return { host: req.target.host, computeIp: req.computeIp, durationS, scriptPath: `${dir}/doctor-fault-${id}.sh`, logPath: `${dir}/doctor-fault-${id}.log` };
}

/** Uploads the script over SFTP and starts it detached; returns once it runs (before the link goes down). */
export async function injectLinkDown(req: LinkDownRequest, auth: SshAuth, plan: FaultPlan = planLinkDown(req)): Promise<InjectedFault> {
  const { scriptPath, logPath, durationS } = plan;
  const ssh = await SshSession.connect(req.target, auth);
  try {
    await ssh.writeFile(scriptPath, LINK_DOWN_SCRIPT, 0o700);
    // $PPID of this shell is the sshd session process: the script waits for it to end.
    const startedAt = preciseNow();
    const r = await ssh.exec(`setsid nohup /bin/bash ${scriptPath} ${plan.computeIp} ${durationS} $PPID > ${logPath} 2>&1 < /dev/null & echo "started $!"`);
    const started = /started (\d+)/.exec(r.stdout);
    if (r.code !== 0 || !started) {
      throw new FaultInjectionError(`could not start the fault script on ${req.target.host} (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    }
    return { ...plan, startedAt, pid: Number(started[1]) };
  } finally {
    ssh.close();
  }
}

export function parseFaultLog(text: string): FaultLog {
  const log: FaultLog = { raw: text };
  for (const line of text.split('\n')) {
    const [word, ...rest] = line.trim().split(' ');
    const value = rest.join(' ');
    if (word === 'dev') log.dev = value;
    else if (word === 'down') log.downAt = Number(value) * 1000;
    else if (word === 'up') log.upAt = Number(value) * 1000;
    else if (word === 'error') log.error = value;
  }
  return log;
}

/**
 * Reads the script's log once the host is reachable again (the link is back),
 * retrying the SSH connection until `deadline`, then removes the script and log.
 */
export async function fetchFaultLog(fault: FaultPlan, target: SshTarget, auth: SshAuth, deadline: number): Promise<FaultLog> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    let ssh: SshSession | undefined;
    try {
      ssh = await SshSession.connect(target, { ...auth, connectTimeoutMs: Math.max(1_000, Math.min(5_000, deadline - Date.now())) });
      const log = parseFaultLog(await ssh.readFile(fault.logPath));
      if (log.upAt !== undefined || log.error) {
        await ssh.exec(`rm -f ${fault.scriptPath} ${fault.logPath}`);
        return log;
      }
      lastError = new FaultInjectionError(`the fault on ${fault.host} has not restored the link yet`);
    } catch (err) {
      if (err instanceof HostKeyError) throw err;
      lastError = err;
    } finally {
      ssh?.close();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new FaultInjectionError(`could not read the fault log from ${fault.host} before the deadline: ${(lastError as Error)?.message ?? 'no answer'}`, { cause: lastError });
}
