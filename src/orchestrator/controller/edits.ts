/**
 * What the Doctor scenario needs of a controller's configuration, as pure text → text edits (Doctor's
 * set_config.py did the same with PyYAML and sed). Each returns its input unchanged, byte for byte, when
 * nothing is missing, so a second run finds nothing to do; otherwise it changes only what it must.
 */
import { isMap, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { HarnessError, isRecord } from '../../shared/index.js';

/** The publisher that hands Ceilometer's events to Aodh's listener. */
export const ALARM_SINK = 'notifier://?topic=alarm.all';
/** The traits Doctor's alarm query and the profiler read from compute.instance.update. */
export const INSTANCE_TRAITS = ['instance_id', 'state', 'tenant_id', 'host'] as const;

/** Ceilometer's event_pipeline.yaml with the alarm sink among event_sink's publishers. */
export function withAlarmSink(text: string, path = 'event_pipeline.yaml'): string {
  const doc = parseDocument(text, { merge: true }); // Ceilometer's files share traits with << merge keys
  if (doc.errors.length) throw new HarnessError(`${path} is not valid YAML: ${doc.errors[0]!.message}`);
  const sinks = doc.get('sinks');
  if (!isSeq(sinks)) throw new HarnessError(`${path} has no sinks list: is it Ceilometer's event pipeline?`);
  const sink = sinks.items.find((s): s is YAMLMap => isMap(s) && s.get('name') === 'event_sink');
  if (!sink) throw new HarnessError(`${path} has no sink named event_sink (the one Ceilometer's event source feeds)`);
  const publishers = sink.get('publishers');
  if (isSeq(publishers)) {
    if (publishers.items.some((p) => String((p as { value?: unknown }).value ?? p) === ALARM_SINK)) return text;
    publishers.add(doc.createNode(ALARM_SINK));
  } else {
    sink.set('publishers', doc.createNode([ALARM_SINK]));
  }
  return doc.toString();
}

/** Ceilometer's event_definitions.yaml with a compute.instance.update definition that has every trait Doctor reads. */
export function withInstanceUpdateTraits(text: string, path = 'event_definitions.yaml'): string {
  const doc = parseDocument(text, { merge: true }); // Ceilometer's files share traits with << merge keys
  if (doc.errors.length) throw new HarnessError(`${path} is not valid YAML: ${doc.errors[0]!.message}`);
  const list: unknown = doc.toJS();
  if (!Array.isArray(list)) throw new HarnessError(`${path} is not a list of event definitions: is it Ceilometer's?`);
  const covering = list.filter((d) => isRecord(d) && eventTypes(d['event_type']).some((t) => globMatch(t, 'compute.instance.update')));
  // Ceilometer applies the definitions that match, the later one winning: the traits of all of them count.
  const traits = new Set(covering.flatMap((d) => (isRecord(d['traits']) ? Object.keys(d['traits']) : [])));
  if (INSTANCE_TRAITS.every((t) => traits.has(t))) return text;
  const definition = {
    event_type: 'compute.instance.update',
    traits: {
      instance_id: { fields: 'payload.instance_id' },
      state: { fields: 'payload.state' },
      old_state: { fields: 'payload.old_state' },
      tenant_id: { fields: 'payload.tenant_id' },
      user_id: { fields: 'payload.user_id' },
      host: { fields: 'publisher_id', plugin: { name: 'split', parameters: { segment: 1, max_split: 1 } } },
    },
  };
  const root = doc.contents;
  if (!isSeq(root)) throw new HarnessError(`${path} is not a list of event definitions: is it Ceilometer's?`);
  (root as { add(v: unknown): void }).add(doc.createNode(definition));
  return doc.toString();
}

/** `key` of `[section]` in an oslo.config INI file (the first one; oslo.config takes the last of a repeated key, which we do not need). */
export function iniValue(text: string, section: string, key: string): string | undefined {
  let inSection = false;
  for (const line of text.split('\n')) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      inSection = header[1] === section;
      continue;
    }
    const kv = inSection ? /^\s*([\w.-]+)\s*=\s*(.*?)\s*$/.exec(line) : null;
    if (kv && kv[1] === key) return kv[2];
  }
  return undefined;
}

/**
 * An oslo.config INI file with `key` of `[section]` set to `value`, unless `acceptable(current)` says the
 * value it has will do. Comments, order and spacing of everything else stay as they were.
 */
export function withIniValue(
  text: string, section: string, key: string, value: string | ((current: string | undefined) => string), acceptable: (current: string) => boolean = (c) => c === value,
): string {
  const valueFor = (current: string | undefined) => (typeof value === 'string' ? value : value(current));
  const lines = text.split('\n');
  let inSection = false;
  let sectionAt = -1;
  let endAt = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(lines[i]!);
    if (header) {
      if (inSection) {
        endAt = i;
        break;
      }
      inSection = header[1] === section;
      if (inSection) sectionAt = i;
      continue;
    }
    if (!inSection) continue;
    const kv = /^(\s*)([\w.-]+)(\s*=\s*)(.*?)\s*$/.exec(lines[i]!);
    if (kv && kv[2] === key) {
      if (acceptable(kv[4]!)) return text;
      lines[i] = `${kv[1]}${key}${kv[3]}${valueFor(kv[4])}`;
      return lines.join('\n');
    }
  }
  if (sectionAt < 0) {
    const tail = text.length === 0 || text.endsWith('\n') ? '' : '\n';
    return `${text}${tail}${text.length ? '\n' : ''}[${section}]\n${key} = ${valueFor(undefined)}\n`;
  }
  // After the section's last setting, before the blank lines and comments that lead into the next one.
  let at = endAt;
  while (at > sectionAt + 1 && /^\s*(#.*)?$/.test(lines[at - 1]!)) at -= 1;
  lines.splice(at, 0, `${key} = ${valueFor(undefined)}`);
  return lines.join('\n');
}

function eventTypes(v: unknown): string[] {
  return typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** Ceilometer's fnmatch on event types: `*` any run, `?` one character; a leading `!` excludes. */
function globMatch(pattern: string, type: string): boolean {
  if (pattern.startsWith('!')) return false;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(type);
}


/**
 * oslo.log's own default_log_levels (oslo_log/_options.py) and what each service adds at start-up
 * (nova/config.py, ceilometer/service.py): setting the option replaces them all, so a file that does not
 * set it gets them back with our entry, or SQLAlchemy would log every statement.
 */
const OSLO_LOG_LEVELS = [
  'amqp=WARN', 'amqplib=WARN', 'boto=WARN', 'qpid=WARN', 'sqlalchemy=WARN', 'suds=INFO', 'oslo.messaging=INFO', 'oslo_messaging=INFO',
  'iso8601=WARN', 'requests.packages.urllib3.connectionpool=WARN', 'urllib3.connectionpool=WARN', 'websocket=WARN',
  'requests.packages.urllib3.util.retry=WARN', 'urllib3.util.retry=WARN', 'keystonemiddleware=WARN', 'routes.middleware=WARN',
  'stevedore=WARN', 'taskflow=WARN', 'keystoneauth=WARN', 'oslo.cache=INFO', 'oslo_policy=INFO', 'dogpile.core.dogpile=INFO',
];
export const SERVICE_LOG_LEVELS = {
  nova: [...OSLO_LOG_LEVELS, 'glanceclient=WARN', 'oslo.privsep.daemon=INFO'],
  ceilometer: [...OSLO_LOG_LEVELS, 'futurist=INFO', 'neutronclient=INFO', 'keystoneclient=INFO'],
} as const;

/**
 * An oslo.config file whose `[DEFAULT] default_log_levels` lets `logger` log at DEBUG, and nothing else
 * more than before (`debug` stays as it is): appended to the file's own list, or to the service's
 * defaults when the file has none.
 */
export function withDebugLogger(text: string, logger: string, defaults: readonly string[]): string {
  const entry = `${logger}=DEBUG`;
  return withIniValue(text, 'DEFAULT', 'default_log_levels', (current) => (current === undefined ? [...defaults, entry] : [current, entry]).join(','),
    (current) => current.split(',').map((s) => s.trim()).includes(entry));
}
