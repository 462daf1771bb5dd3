/**
 * Typed OpenStack REST client: one Session (token, re-auth, retries,
 * microversions, OSProfiler) shared by a client per service. Wire names are
 * mapped to camelCase in each resource module.
 */
export { OpenStackClient } from './client.js';
export { AlarmingClient } from './alarming.js';
export { ComputeClient } from './compute/index.js';
export { IdentityClient } from './identity.js';
export { ImageClient } from './image.js';
export { NetworkClient } from './network.js';

export * from './session.js';
export * from './credentials.js';
export * from './microversion.js';
export * from './osprofiler.js';
export * from './catalog.js';
export { httpExchange, type HttpAnswer, type HttpCall } from './transport.js';
export { createOpenStackClient, type ClientConfig } from './factory.js';
export * from './compute/index.js';
export type { Project, User, Role, RoleAssignment } from './identity.js';
export type { Image } from './image.js';
export type { Network, Subnet } from './network.js';
export { doctorAlarmBody } from './alarming.js';
export type { Alarm, AlarmHistoryEntry, AlarmQuery, EventAlarmInput } from './alarming.js';
