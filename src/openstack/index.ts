/**
 * Typed OpenStack REST client: one Session (token, re-auth, retries,
 * microversions, OSProfiler) shared by a client per service. Wire names are
 * mapped to camelCase in each resource module.
 */
import { AlarmingClient } from './alarming.js';
import { ComputeClient } from './compute/index.js';
import { IdentityClient } from './identity.js';
import { ImageClient } from './image.js';
import { NetworkClient } from './network.js';
import { Session, type SessionOptions } from './session.js';

export * from './session.js';
export * from './credentials.js';
export * from './microversion.js';
export * from './osprofiler.js';
export * from './catalog.js';
export * from './compute/index.js';
export type { Project, User, Role, RoleAssignment } from './identity.js';
export type { Image } from './image.js';
export type { Network, Subnet } from './network.js';
export { doctorAlarmBody } from './alarming.js';
export type { Alarm, AlarmHistoryEntry, AlarmQuery, EventAlarmInput } from './alarming.js';
export { IdentityClient, ImageClient, NetworkClient, AlarmingClient, ComputeClient };

export class OpenStackClient {
  readonly identity: IdentityClient;
  readonly compute: ComputeClient;
  readonly image: ImageClient;
  readonly network: NetworkClient;
  readonly alarming: AlarmingClient;

  constructor(readonly session: Session) {
    this.identity = new IdentityClient(session);
    this.compute = new ComputeClient(session);
    this.image = new ImageClient(session);
    this.network = new NetworkClient(session);
    this.alarming = new AlarmingClient(session);
  }

  static create(opts: SessionOptions): OpenStackClient {
    return new OpenStackClient(new Session(opts));
  }

  close(): void {
    this.session.close();
  }
}
