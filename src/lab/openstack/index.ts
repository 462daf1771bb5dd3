/** The all-in-one OpenStack lab from Debian's packages (so far: MariaDB and Keystone). */
export { openstackUp, openstackDown, openstackStatus, readOpenStackState, type OpenStackLabOptions, type OpenStackLabState } from './aio.js';
