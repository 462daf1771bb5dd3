/**
 * The ICMP monitor: raw-socket echo probes to many hosts from one socket, a
 * k-loss state machine per host, and reports of compute.host.down to the
 * inspector in the Doctor or Vitrage shape.
 */
export { Monitor, DOCTOR_PROFILE, FAST_PROFILE, type MonitorOptions, type MonitoredHost, type ProbeProfile, type HostDownEvent, type HostUpEvent } from './monitor.js';
export { InspectorReporter, batchedReports, hostDownEvent, endpointFor, type EventShape, type HostDownReport, type ReporterOptions, type ReportResult } from './reporter.js';
export { openIcmp, openRawIcmp, type IcmpTransport } from './transport.js';
export { encodeEchoRequest, writeEchoRequest, decodeIcmp, echoReplySequence, internetChecksum, int32Ipv4, ipv4Int32, isEchoReplyFor, type IcmpMessage } from './icmp.js';
export { HostTracker, type HostState, type Transition } from './tracker.js';
