/** The all-in-one OpenStack lab from Debian's packages. */
export {
  openstackUp, openstackDown, openstackStatus, readOpenStackState,
  type OpenStackLabOptions, type OpenStackLabState, type OpenStackLabStatus,
} from './aio.js';
export { freeLabPorts } from './ports.js';
export { openstackRestart } from './restart.js';
