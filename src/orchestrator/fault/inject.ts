import { randomBytes } from 'node:crypto';
import { ConfigError, FaultInjectionError, preciseNow } from '../../shared/index.js';
import { HostKeyError, SshSession, type SshAuth, type SshTarget } from './ssh.js';
import { faultParam, type FaultSpec } from './kinds.js';

export const MIN_FAULT_SECONDS = 1;
export const DEFAULT_FAULT_SECONDS = 30;

const LINK_DOWN: FaultSpec = { kind: 'link-down' };

/**
 * Runs on the compute host: finds the interface holding the compute IP, waits for the SSH session
 * that started it to end (bounded, so it never hangs), makes the fault, logs the instant, puts it
 * back after the duration and logs that. It is started with setsid/nohup, so the fault is undone
 * even if the harness dies or its SSH session (which a link-down cuts) is gone. SIGTERM undoes it
 * at once (the lab's restore sends it). Packet filters live in a chain of their own, named by the
 * run (`-N`, so a second fault on the host never shares it), and their drop count is logged before
 * the chain goes. A freeze stops (SIGSTOP) every process of the host's network namespace but PID 1,
 * kernel threads and the script's own group, lists them next to the script and continues them
 * after; a lab host's power-off is that with its link down. A flap makes its outages itself (each
 * one logged) and then ends. Putting a fault back is idempotent (the lab also clears what a killed
 * script left: restoreHostLink).
 */
export const FAULT_SCRIPT = `#!/bin/bash
# doctor-harness fault: $1 compute IP, $2 seconds, $3 PID of the SSH session to outwait, $4 fault, $5 its parameter, $6 filter chain
set -u
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
frozen_list="$0.frozen"
ipt() { $SUDO iptables -w "$@"; }
dev_of() { ip -o -4 addr show | awk -v a="$1" '{split($4, p, "/"); if (p[1] == a) {print $2; exit}}'; }
jump() { ipt "$1" INPUT -d "$2" -j "$3" && ipt "$1" OUTPUT -s "$2" -j "$3"; }
chain_with() { local chain=$1; shift; ipt -N "$chain" && ipt -A "$chain" "$@"; }
unfilter() { # chain ip
  ipt -L "$1" -n >/dev/null 2>&1 || return 0
  echo "dropped $(ipt -L "$1" -v -n -x | awk 'NR > 2 {s += $1} END {print s + 0}')"
  while ipt -D INPUT -d "$2" -j "$1" 2>/dev/null; do :; done
  while ipt -D OUTPUT -s "$2" -j "$1" 2>/dev/null; do :; done
  ipt -F "$1" && ipt -X "$1"
}
freeze_host() { # builtins only (test -ef, read): a fork per process of the machine took most of a second
  local line mine d pid comm
  read -r line < /proc/$$/stat; set -- \${line##*) }; mine=$3
  : > "$frozen_list"
  for d in /proc/[0-9]*; do
    pid=\${d#/proc/}
    [ "$pid" = 1 ] || [ "$pid" = 2 ] && continue
    [ "$d/ns/net" -ef /proc/$$/ns/net ] || continue
    read -r line 2>/dev/null < "$d/stat" || continue
    comm=\${line#*(}; comm=\${comm%)*}
    # Namespace tools only visiting the host (a lab's ip -n, ip netns exec iptables) are not the host's.
    case "$comm" in ip|iptables*|ip6tables*|xtables*) continue ;; esac
    set -- \${line##*) } # state ppid pgrp
    [ "$2" = 2 ] || [ "$3" = "$mine" ] && continue
    $SUDO kill -STOP "$pid" 2>/dev/null && echo "$pid" >> "$frozen_list"
  done
}
thaw_host() { # logs how many were stopped (here, so a freeze cut short by SIGTERM says it too)
  [ -f "$frozen_list" ] || return 0
  echo "frozen $(wc -l < "$frozen_list")"
  while read -r pid; do $SUDO kill -CONT "$pid" 2>/dev/null; done < "$frozen_list"
  rm -f "$frozen_list"
}
went_down() { echo "down $(date +%s.%N)"; }
# apply and undo work on the globals below (ip_addr, fault, param, chain, dev); apply logs "down" the moment the host is cut off.
apply() {
  case "$fault" in
    link-down) $SUDO ip link set dev "$dev" down && went_down ;;
    icmp-blackhole) chain_with "$chain" -p icmp -j DROP && jump -I "$ip_addr" "$chain" && went_down ;;
    icmp-loss) chain_with "$chain" -p icmp -m statistic --mode random --probability "$(awk -v p="$param" 'BEGIN {printf "%.4f", p / 100}')" -j DROP && ipt -I INPUT -d "$ip_addr" -j "$chain" && went_down ;;
    freeze) chain_with "$chain" -j DROP && jump -I "$ip_addr" "$chain" && went_down && freeze_host ;;
    power-off) $SUDO ip link set dev "$dev" down && went_down && freeze_host ;;
    *) return 1 ;;
  esac
}
undo() {
  case "$fault" in
    link-down) $SUDO ip link set dev "$dev" up ;;
    freeze) thaw_host; unfilter "$chain" "$ip_addr" ;;
    power-off) thaw_host; $SUDO ip link set dev "$dev" up ;;
    icmp-*|flap) unfilter "$chain" "$ip_addr" ;;
  esac
}
failed() { echo "error making $fault failed"; undo; exit 4; }
ended() { echo "end $(date +%s.%N)"; exit 0; }
ip_addr=$1; duration=$2; session=$3; fault=\${4:-link-down}; param=\${5:-}; chain=\${6:-}
[ "$param" = - ] && param=""
echo "start $(date +%s.%N)"
echo "fault $fault\${param:+:$param}"
dev=$(dev_of "$ip_addr")
if [ -z "$dev" ]; then echo "error no interface holds $ip_addr"; exit 3; fi
echo "dev $dev"
case "$fault" in link-down|power-off) ;; *) command -v iptables >/dev/null 2>&1 || { echo "error iptables is not installed on this host"; exit 6; } ;; esac
restore() {
  trap '' TERM INT
  undo || { echo "error putting $fault back failed"; exit 5; }
  echo "up $(date +%s.%N)"
  ended
}
trap restore TERM INT
for _ in $(seq 500); do kill -0 "$session" 2>/dev/null || break; sleep 0.01; done
if [ "$fault" = flap ]; then
  count=\${param%x*}; pause=$(awk -v m="\${param#*x}" 'BEGIN {printf "%.3f", m / 1000}')
  chain_with "$chain" -j DROP || failed
  for i in $(seq "$count"); do
    jump -I "$ip_addr" "$chain" || failed
    went_down
    sleep "$pause" & wait $!
    jump -D "$ip_addr" "$chain"
    echo "up $(date +%s.%N)"
    [ "$i" = "$count" ] || { sleep "$pause" & wait $!; }
  done
  trap '' TERM INT
  undo
  ended
fi
apply || failed
sleep "$duration" & wait $!
restore
`;

export interface FaultRequest {
  /** Where to SSH (often the compute IP itself). */
  target: SshTarget;
  /** The compute IP the fault is about (its interface, its packets). */
  computeIp: string;
  /** What happens to the host (default link-down). */
  fault?: FaultSpec;
  durationS?: number;
  /** Where the script and its log go on the host (default /tmp). */
  remoteDir?: string;
}

export interface FaultPlan {
  host: string;
  computeIp: string;
  fault: FaultSpec;
  durationS: number;
  /** The iptables chain a packet-filter fault's rules live in (the run's own name). */
  chain: string;
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
  /** The fault the script made, as `--fault` names it. */
  fault?: string;
  dev?: string;
  /** Packets a packet-filter fault dropped (its chain's counters, read before it was removed). */
  dropped?: number;
  /** Processes a freeze stopped. */
  frozen?: number;
  /** Each outage of a flap, host clock (only when there were several). */
  outages?: Array<{ downAt: number; upAt?: number }>;
  /** Epoch ms on the compute host's clock: the fault was made here (a flap: its first outage)... */
  downAt?: number;
  /** ...and put back here (a flap: its last outage's end). */
  upAt?: number;
  /** The script was done (after its last "up"): the log is complete. */
  endedAt?: number;
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

/** Validates a request and names the script, log and filter chain it will use. */
export function planFault(req: FaultRequest): FaultPlan {
  const durationS = validateDuration(req.durationS);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(req.computeIp)) throw new ConfigError('computeIp', `"${req.computeIp}" is not an IPv4 address`);
  const id = `${Date.now()}-${randomBytes(3).toString('hex')}`;
  const dir = (req.remoteDir ?? '/tmp').replace(/\/+$/, '');
  if (!/^\/[\w./-]*$/.test(dir)) throw new ConfigError('remoteDir', `"${req.remoteDir}" must be an absolute path of letters, digits, _ . / -`);
  const chain = `DOCTOR-${id.slice(-6).toUpperCase()}`;
  return { host: req.target.host, computeIp: req.computeIp, fault: req.fault ?? LINK_DOWN, durationS, chain, scriptPath: `${dir}/doctor-fault-${id}.sh`, logPath: `${dir}/doctor-fault-${id}.log` };
}

/** Uploads the script over SFTP and starts it detached; returns once it runs (before the fault is made). */
export async function injectFault(req: FaultRequest, auth: SshAuth, plan: FaultPlan = planFault(req)): Promise<InjectedFault> {
  const { scriptPath, logPath, durationS } = plan;
  const ssh = await SshSession.connect(req.target, auth);
  try {
    await ssh.writeFile(scriptPath, FAULT_SCRIPT, 0o700);
    // $PPID of this shell is the sshd session process: the script waits for it to end.
    const startedAt = preciseNow();
    const r = await ssh.exec(`setsid nohup /bin/bash ${scriptPath} ${plan.computeIp} ${durationS} $PPID ${plan.fault.kind} ${faultParam(plan.fault)} ${plan.chain} > ${logPath} 2>&1 < /dev/null & echo "started $!"`);
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
  const outages: NonNullable<FaultLog['outages']> = [];
  for (const line of text.split('\n')) {
    const [word, ...rest] = line.trim().split(' ');
    const value = rest.join(' ');
    if (word === 'dev') log.dev = value;
    else if (word === 'fault') log.fault = value;
    else if (word === 'dropped' && /^\d+$/.test(value)) log.dropped = Number(value);
    else if (word === 'frozen' && /^\d+$/.test(value)) log.frozen = Number(value);
    else if (word === 'down') outages.push({ downAt: Number(value) * 1000 });
    else if (word === 'up') {
      const open = outages.at(-1);
      if (open && open.upAt === undefined) open.upAt = Number(value) * 1000;
      log.upAt = Number(value) * 1000;
    } else if (word === 'end') log.endedAt = Number(value) * 1000;
    else if (word === 'error') log.error = value;
  }
  // The fault began with the first outage (checkpoint 0) and was over with the last "up".
  if (outages.length) log.downAt = outages[0]!.downAt;
  if (outages.length > 1) log.outages = outages;
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
      if (log.endedAt !== undefined || log.error) {
        await ssh.exec(`rm -f ${fault.scriptPath} ${fault.logPath} ${fault.scriptPath}.frozen`);
        return log;
      }
      lastError = new FaultInjectionError(`the ${fault.fault.kind} fault on ${fault.host} has not been put back yet`);
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
