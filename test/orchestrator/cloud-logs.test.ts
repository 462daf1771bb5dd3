/**
 * Checkpoints 5–7 read from the controllers' logs: one round trip per controller, the node's clock
 * measured first (it is not ours), and Nova's send on one controller matched to the agent's copy on another.
 */
import { describe, expect, it } from 'vitest';
import { cloudFromLogs, type ControllerNode, type ControllerSession } from '../../src/orchestrator/index.js';
import { createLogger } from '../../src/shared/index.js';

const VM = '11111111-1111-4111-8111-111111111111';
const ALARM = '3f108e20-e706-4d64-905c-2ea614886f9f';
const REQ = 'req-5de41856-83e7-4117-b415-9cf3233ab36c';
const U = 'aaaa0000000000000000000000000001';
/** The nodes run an hour ahead (+0100) and their clocks 250 ms ahead of ours. */
const AHEAD_MS = 250;
const line = (t: string, level: string, logger: string, ctx: string, msg: string) => `2026-12-02 ${t} 4242 ${level} ${logger} [${ctx}] ${msg}`;
const NOVA = [
  line('10:12:22.757', 'DEBUG', 'oslo_messaging._drivers.amqpdriver', `None ${REQ} u p - - default default`, `CAST unique_id: ${U} NOTIFY exchange 'nova' topic 'notifications.info' _send x`),
  line('10:12:22.790', 'INFO', 'nova.api.openstack.requestlog', `None ${REQ} u p - - default default`, `198.18.0.253 "POST /v2.1/servers/${VM}/action" status: 202 len: 0`),
].join('\n');
const CEILOMETER = [
  line('10:12:22.759', 'DEBUG', 'oslo_messaging._drivers.amqpdriver', '-', `received message with unique_id: ${U} __call__ x`),
  line('10:12:22.762', 'DEBUG', 'oslo_messaging._drivers.amqpdriver', '-', "CAST unique_id: 1678058f30c84fca87b11076344700f9 NOTIFY exchange 'ceilometer' topic 'alarm.all.sample' _send x"),
].join('\n');
const AODH = line('10:12:22.773', 'INFO', 'aodh.evaluator.event', '-', `Triggering the alarm ${ALARM} by event for project 62846309, event_type: compute.instance.update`);

function node(name: string, ip: string, username = 'heat-admin'): ControllerNode {
  return { name, ip, ssh: { target: { host: ip, username }, auth: { privateKeyPath: '/nonexistent' } } };
}

/** A controller whose files are `logs` (path → text); `date +%s.%N` answers on its clock. */
function controller(logs: Record<string, string>, commands: string[]): ControllerSession {
  return {
    async exec(command: string) {
      commands.push(command);
      if (command === 'date +%s.%N') return { code: 0, stdout: `${((Date.now() + AHEAD_MS) / 1000).toFixed(6)}\n`, stderr: '' };
      // The script, as a shell would run it through sudo: date +%z, then each log's marker and its lines.
      const inner = /^sudo -n sh -c '(.*)'$/s.exec(command)?.[1]?.replace(/'\\''/g, "'") ?? command;
      const out = ['+0100'];
      for (const m of inner.matchAll(/echo '@@ (\w+)'; if \[ -r '([^']+)' \]/g)) {
        out.push(`@@ ${m[1]}`);
        out.push(logs[m[2]!] ?? '@@missing');
      }
      return { code: 0, stdout: `${out.join('\n')}\n`, stderr: '' };
    },
    readFile: async () => '', writeFile: async () => {}, close() {},
  };
}

describe('cloud checkpoints from the controllers\' logs', () => {
  it("corrects each line by the node's zone and measured clock, matches Nova's send on one controller to the agent's copy on another, and says which log is missing", async () => {
    const commands: Record<string, string[]> = { ctl01: [], ctl02: [] };
    const files = {
      ctl01: { '/var/log/nova/nova-api.log': NOVA, '/var/log/aodh/aodh-listener.log': AODH },
      ctl02: { '/var/log/ceilometer/agent-notification.log': CEILOMETER },
    };
    const got = await cloudFromLogs({
      logs: { novaApi: '/var/log/nova/nova-api.log', ceilometerNotification: '/var/log/ceilometer/agent-notification.log', aodhListener: '/var/log/aodh/aodh-listener.log' },
      nodes: [node('ctl01', '192.0.2.11'), node('ctl02', '192.0.2.12')], vms: [{ vmId: VM, alarmId: ALARM }], sharedClock: false,
      session: async (n) => controller(files[n.name as keyof typeof files], commands[n.name]!), log: createLogger({ level: 'silent' }),
    });
    const c = got.instants.get(VM)!;
    const utc = (t: string) => Date.parse(`2026-12-02T${t}Z`) + 0.5 - AHEAD_MS;
    // Within what the measurement allows: the offset came from SSH commands answered in microseconds here.
    expect(c[5]!.at).toBeCloseTo(utc('09:12:22.757'), -1);
    expect(c[6]!.at).toBeCloseTo(utc('09:12:22.762'), -1);
    expect(c[7]!.at).toBeCloseTo(utc('09:12:22.773'), -1);
    expect(c[5]).toMatchObject({ clock: 'ctl01', source: expect.stringMatching(/^nova-api log/) });
    expect(c[6]).toMatchObject({ clock: 'ctl02', source: expect.stringMatching(/^ceilometer notification agent log/) });
    expect(c[5]!.uncertaintyMs).toBeGreaterThanOrEqual(0.5);
    expect(got.clocks.map((k) => k.clock).sort()).toEqual(['ctl01', 'ctl02']);
    for (const k of got.clocks) {
      expect(Math.abs(k.offsetMs - AHEAD_MS)).toBeLessThanOrEqual(k.uncertaintyMs + 1);
      expect(k.method).toMatch(/^best of 5 SSH commands/);
    }
    // Read as root through sudo (heat-admin), every log in one command per controller, the clock outside sudo.
    for (const cmds of Object.values(commands)) {
      expect(cmds.filter((x) => x.startsWith('sudo -n sh -c'))).toHaveLength(1);
      expect(cmds.filter((x) => x === 'date +%s.%N')).toHaveLength(6);
    }
    expect(got.missing[5]).toMatch(/cannot be read on ctl02/); // ctl02 has no nova-api log: said, not fatal
  });

  it("with the shortcut, takes 5 from the inspector's publish when Ceilometer published the inspector's message first, and from Nova's log when Nova's came first", async () => {
    const S = 'bbbb0000000000000000000000000002';
    const VM2 = '22222222-2222-4222-8222-222222222222';
    const REQ2 = 'req-6de41856-83e7-4117-b415-9cf3233ab36c';
    const U2 = 'aaaa0000000000000000000000000003';
    const S2 = 'bbbb0000000000000000000000000004';
    const nova = [NOVA,
      line('10:12:22.800', 'DEBUG', 'oslo_messaging._drivers.amqpdriver', `None ${REQ2} u p - - default default`, `CAST unique_id: ${U2} NOTIFY exchange 'nova' topic 'notifications.info' _send x`),
      line('10:12:22.830', 'INFO', 'nova.api.openstack.requestlog', `None ${REQ2} u p - - default default`, `198.18.0.253 "POST /v2.1/servers/${VM2}/action" status: 202 len: 0`),
    ].join('\n');
    const publish = (t: string, u: string) => [
      line(t, 'DEBUG', 'oslo_messaging._drivers.amqpdriver', '-', `received message with unique_id: ${u} __call__ x`),
      line(t, 'DEBUG', 'oslo_messaging._drivers.amqpdriver', '-', `CAST unique_id: ${u.replace(/^..../, 'cccc')} NOTIFY exchange 'ceilometer' topic 'alarm.all.sample' _send x`),
    ];
    // VM: the shortcut's message (S) reached the agent before Nova's (U); VM2: Nova's (U2) before the shortcut's (S2).
    const agent = [...publish('10:12:22.740', S), ...publish('10:12:22.759', U), ...publish('10:12:22.801', U2), ...publish('10:12:22.820', S2)].join('\n');
    const sentAt = Date.parse('2026-12-02T09:12:22.735Z');
    const got = await cloudFromLogs({
      logs: { novaApi: '/n', ceilometerNotification: '/c' }, nodes: [node('controller', '127.0.0.1', 'root')],
      vms: [{ vmId: VM, alarmId: ALARM }, { vmId: VM2, alarmId: 'other' }], sharedClock: true,
      session: async () => controller({ '/n': nova, '/c': agent }, []), log: createLogger({ level: 'silent' }),
      shortcut: new Map([[S, { vmId: VM, sentAt }], [S2, { vmId: VM2, sentAt: sentAt + 80 }]]),
    });
    const first = got.instants.get(VM)!;
    expect(first[5]).toMatchObject({ at: sentAt, clock: 'this machine', source: expect.stringMatching(/^inspector \(message-bus shortcut/) });
    expect(first[6]!.source).toMatch(/the shortcut's message/);
    expect(first[6]!.at).toBeCloseTo(Date.parse('2026-12-02T09:12:22.740Z') + 0.5, 3); // a log's millisecond: its middle
    const second = got.instants.get(VM2)!;
    expect(second[5]!.source).toMatch(/^nova-api log/);
    expect(second[6]!.source).not.toMatch(/shortcut/);
    expect(second[6]!.at).toBeCloseTo(Date.parse('2026-12-02T09:12:22.801Z') + 0.5, 3);

    // Two agents: the one read first published the shortcut's message, the other Nova's, earlier: Nova's wins, 5 and 6 alike.
    const split = await cloudFromLogs({
      logs: { novaApi: '/n', ceilometerNotification: '/c' }, nodes: [node('ctl01', '127.0.0.1', 'root'), node('ctl02', '127.0.0.2', 'root')],
      vms: [{ vmId: VM2, alarmId: 'other' }], sharedClock: true, log: createLogger({ level: 'silent' }),
      session: async (n) => controller(n.name === 'ctl01' ? { '/n': '', '/c': publish('10:12:22.820', S2).join('\n') } : { '/n': nova, '/c': publish('10:12:22.801', U2).join('\n') }, []),
      shortcut: new Map([[S2, { vmId: VM2, sentAt: sentAt + 80 }]]),
    });
    expect(split.instants.get(VM2)![5]!.source).toMatch(/^nova-api log/);
    expect(split.instants.get(VM2)![6]!.at).toBeCloseTo(Date.parse('2026-12-02T09:12:22.801Z') + 0.5, 3);
  });

  it('names the layout key to set when a log is not named, and the DEBUG logger when the line is not there', async () => {
    const got = await cloudFromLogs({
      logs: { novaApi: '/var/log/nova/nova-api.log' }, nodes: [node('controller', '127.0.0.1', 'root')], vms: [{ vmId: VM, alarmId: ALARM }], sharedClock: true,
      session: async () => controller({ '/var/log/nova/nova-api.log': '' }, []), log: createLogger({ level: 'silent' }),
    });
    expect(got.instants.size).toBe(0);
    expect(got.clocks).toEqual([]); // this machine's clock: nothing to measure
    expect(got.missing[5]).toMatch(/no line in \/var\/log\/nova\/nova-api.log marks it \(the CAST … NOTIFY line of oslo_messaging._drivers.amqpdriver at DEBUG/);
    expect(got.missing[6]).toMatch(/names no ceilometer notification agent log \(logs.ceilometerNotification\)/);
    expect(got.missing[7]).toMatch(/logs.aodhListener/);
  });
});
