/** Controller set-up and restore (Ceilometer's event sink and definitions, Aodh's cache TTL, Nova's state notifications). */
import { SshSession } from '../fault/ssh.js';
import type { LedgerEntry } from '../ledger.js';
import { asRoot, restoreController, type ControllerService } from './setup.js';

export { ALARM_SINK, iniValue, INSTANCE_TRAITS, withAlarmSink, withDebugLogger, withIniValue, withInstanceUpdateTraits } from './edits.js';
export {
  asRoot, controllerLayoutSchema, DEVSTACK_LAYOUT, ETC_FILES, restoreController, setUpController, throughSudo, withOverrides,
  type CloudProfileHook, type ControllerFileChange, type ControllerLayout, type ControllerLayoutOverrides, type ControllerNode, type ControllerService, type ControllerSession, type ServiceLogs,
} from './setup.js';

type FileEntry = Extract<LedgerEntry, { kind: 'controller-file' }>;

/** doctor cleanup: puts back the controller files a dead run changed, per controller; the errors, if any. */
export async function restoreControllersFromLedger(entries: LedgerEntry[]): Promise<string[]> {
  const byHost = new Map<string, FileEntry[]>();
  for (const e of entries) if (e.kind === 'controller-file') byHost.set(e.ip, [...(byHost.get(e.ip) ?? []), e]);
  const errors: string[] = [];
  for (const [ip, files] of byHost) {
    const first = files[0]!;
    try {
      const ssh = await SshSession.connect({ host: ip, username: first.username }, {
        privateKeyPath: first.keyPath, insecureSkipHostKeyCheck: first.insecureSkipHostKeyCheck ?? false, ...(first.knownHostsPath ? { knownHostsPath: first.knownHostsPath } : {}),
      });
      try {
        const restart = Object.fromEntries(files.map((f) => [f.service, f.restart])) as Partial<Record<ControllerService, string>>;
        await restoreController(asRoot(ssh, first.username), files.map((f) => ({ path: f.path, backup: f.backup, service: f.service as ControllerService })), restart);
      } finally {
        ssh.close();
      }
    } catch (err) {
      errors.push(`restoring the files of controller ${first.host} (${ip}): ${(err as Error).message}`);
    }
  }
  return errors;
}
