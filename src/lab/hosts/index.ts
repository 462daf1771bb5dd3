/**
 * Compute hosts of the embedded lab: Linux network namespaces joined to the root
 * namespace by veth pairs in 198.18.0.0/15, each with its own sshd.
 */
export { allHosts, labUp, labDown, labStatus, rotateHostKey, restoreHostLink, type LabOptions, type HostStatus } from './lab.js';
export { readState, type LabState, type LabHostState } from './state.js';
export { aliasAddresses, controllerAddressing, hostAddressing, isLabAddress, type HostAddressing } from './addressing.js';
export { assertRoutedThroughLab, labRouteGuard, labServiceGuard } from './route.js';
