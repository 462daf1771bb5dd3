import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ALARM_SINK, withAlarmSink, withDebugLogger, withIniValue, withInstanceUpdateTraits } from '../../src/orchestrator/index.js';
import { AMQP_LOGGER } from '../../src/profiler/index.js';

// Shaped as Ceilometer ships them (pipeline/data/): a document marker, 4-space lists, anchors and << merges.
const PIPELINE = `---
sources:
    - name: event_source
      events:
          - "*"
      sinks:
          - event_sink
sinks:
    - name: event_sink
      publishers:
          - notifier://
`;
const DEFINITIONS = `---
- event_type: 'compute.instance.*'
  traits: &instance_traits
    tenant_id:
      fields: payload.tenant_id
    host:
      fields: publisher_id
      plugin:
        name: split
        parameters:
          segment: 1
          max_split: 1
    instance_id:
      fields: payload.instance_id
    state:
      fields: payload.state
- event_type: compute.instance.update
  traits:
    <<: *instance_traits
    old_state:
      fields: payload.old_state
`;
const DATA = '/usr/lib/python3/dist-packages/ceilometer/pipeline/data';

describe('controller edits', () => {
  it('adds the alarm sink to event_sink once, keeping the other publishers', () => {
    const once = withAlarmSink(PIPELINE);
    expect(parse(once).sinks[0].publishers).toEqual(['notifier://', ALARM_SINK]);
    expect(once.startsWith('---\n')).toBe(true);
    expect(withAlarmSink(once)).toBe(once); // nothing to change: byte for byte
    expect(() => withAlarmSink('sinks:\n  - name: other\n')).toThrow(/no sink named event_sink/);
    expect(() => withAlarmSink('sinks: [\n')).toThrow(/is not valid YAML/);
  });

  it("leaves Ceilometer's definitions alone when compute.instance.update has every trait (through << merges), else appends one", () => {
    expect(withInstanceUpdateTraits(DEFINITIONS)).toBe(DEFINITIONS);
    const without = DEFINITIONS.replace(/ {4}state:\n {6}fields: payload.state\n/, '');
    const fixed = withInstanceUpdateTraits(without);
    const defs = parse(fixed, { merge: true }) as Array<{ event_type: string; traits: Record<string, unknown> }>;
    expect(defs).toHaveLength(3);
    expect(defs[2]!.event_type).toBe('compute.instance.update');
    expect(Object.keys(defs[2]!.traits)).toEqual(expect.arrayContaining(['instance_id', 'state', 'tenant_id', 'host']));
    expect(fixed).toContain('<<: *instance_traits'); // the file's own structure stays
    expect(withInstanceUpdateTraits(fixed)).toBe(fixed);
  });

  it.runIf(existsSync(`${DATA}/event_definitions.yaml`))("the files the installed Ceilometer ships: the pipeline gets the sink, the definitions need nothing", () => {
    const defs = readFileSync(`${DATA}/event_definitions.yaml`, 'utf8');
    expect(withInstanceUpdateTraits(defs)).toBe(defs);
    const pipeline = readFileSync(`${DATA}/event_pipeline.yaml`, 'utf8');
    expect(parse(withAlarmSink(pipeline)).sinks[0].publishers).toContain(ALARM_SINK);
  });

  it('sets an INI value in its section, after its settings, and only when what is there will not do', () => {
    const aodh = '[DEFAULT]\ntransport_url = rabbit://x\n\n#\n# From aodh\n#event_alarm_cache_ttl = 60\n\n[api]\nport = 8042\n';
    const set = withIniValue(aodh, 'DEFAULT', 'event_alarm_cache_ttl', '0');
    expect(set).toBe('[DEFAULT]\ntransport_url = rabbit://x\nevent_alarm_cache_ttl = 0\n\n#\n# From aodh\n#event_alarm_cache_ttl = 60\n\n[api]\nport = 8042\n');
    expect(withIniValue(set, 'DEFAULT', 'event_alarm_cache_ttl', '0')).toBe(set);
    expect(withIniValue('[DEFAULT]\nevent_alarm_cache_ttl=60\n', 'DEFAULT', 'event_alarm_cache_ttl', '0')).toBe('[DEFAULT]\nevent_alarm_cache_ttl=0\n');
    const nova = '[DEFAULT]\ndebug = true\n[notifications]\nnotify_on_state_change = vm_state\n';
    const ok = (c: string) => c === 'vm_state' || c === 'vm_and_task_state';
    expect(withIniValue(nova, 'notifications', 'notify_on_state_change', 'vm_and_task_state', ok)).toBe(nova);
    expect(withIniValue('[DEFAULT]\ndebug = true\n', 'notifications', 'notify_on_state_change', 'vm_and_task_state', ok))
      .toBe('[DEFAULT]\ndebug = true\n\n[notifications]\nnotify_on_state_change = vm_and_task_state\n');
    // The same key in another section is not this one.
    expect(withIniValue('[other]\nkey = 1\n[DEFAULT]\n', 'DEFAULT', 'key', '2')).toBe('[other]\nkey = 1\n[DEFAULT]\nkey = 2\n');
  });

  it("lets oslo.messaging's driver log at DEBUG and nothing else more: the file's own levels kept, else the service's defaults (SQLAlchemy stays at WARN)", () => {
    const entry = `${AMQP_LOGGER}=DEBUG`;
    const bare = '[DEFAULT]\ntransport_url = rabbit://x\n\n[api]\nport = 1\n';
    const set = withDebugLogger(bare, AMQP_LOGGER, ['sqlalchemy=WARN', 'oslo_messaging=INFO']);
    expect(set).toBe(`[DEFAULT]\ntransport_url = rabbit://x\ndefault_log_levels = sqlalchemy=WARN,oslo_messaging=INFO,${entry}\n\n[api]\nport = 1\n`);
    expect(withDebugLogger(set, AMQP_LOGGER, ['ignored=INFO'])).toBe(set); // a second run changes nothing
    // The operator's own list stays, ours appended; `debug` is left as it is.
    const own = '[DEFAULT]\ndebug = false\ndefault_log_levels = amqp=WARN, keystonemiddleware=INFO\n';
    expect(withDebugLogger(own, AMQP_LOGGER, ['ignored=INFO'])).toBe(`[DEFAULT]\ndebug = false\ndefault_log_levels = amqp=WARN, keystonemiddleware=INFO,${entry}\n`);
    expect(withDebugLogger(`[DEFAULT]\ndefault_log_levels = a=WARN, ${entry}\n`, AMQP_LOGGER, [])).toBe(`[DEFAULT]\ndefault_log_levels = a=WARN, ${entry}\n`);
  });
});
