/**
 * The sample inspector: takes host-down events (Doctor's list at PUT /events,
 * Vitrage's object at POST /v1/event, the {"event"} wrapper), finds the host's
 * VMs, and concurrently forces nova-compute down and resets the VMs to error.
 */
export { Inspector, type InspectorOptions, type HostHandling, type VmAction } from './inspector.js';
export { createInspectorApp, type InspectorAppOptions } from './app.js';
export { parseDoctorEvents, parseVitrageEvent, HOST_DOWN, type InspectorEvent } from './events.js';
export {
  instanceUpdateMessage, MessageBusShortcut, NOVA_BUS_TARGET, parseTransportUrl, shownTransportUrl,
  type BusTarget, type MessageBusOptions, type ShortcutSend, type ShortcutVm, type TransportUrl,
} from './shortcut.js';
