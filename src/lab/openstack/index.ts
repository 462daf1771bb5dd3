/** The all-in-one OpenStack lab from Debian's packages. */
export {
  DEFAULT_PORTS, openstackUp, openstackDown, openstackStatus, readOpenStackState,
  type OpenStackLabOptions, type OpenStackLabState, type OpenStackLabStatus, type PortName,
} from './aio.js';
export { freeLabPorts } from './ports.js';
export { openstackRestart, RESTARTABLE_SERVICES } from './restart.js';
