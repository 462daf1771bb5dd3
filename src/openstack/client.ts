import { AlarmingClient } from './alarming.js';
import { ComputeClient } from './compute/index.js';
import { IdentityClient } from './identity.js';
import { ImageClient } from './image.js';
import { NetworkClient } from './network.js';
import { Session, type SessionOptions } from './session.js';

/** One client per cloud: the shared session and a client per service. */
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
