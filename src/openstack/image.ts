import { NotFoundError } from '../shared/index.js';
import type { Session } from './session.js';
import { enc } from './identity.js';

export interface Image {
  id: string;
  name: string;
  status: string;
  size: number | null;
  checksum: string | null;
  visibility: string;
  owner: string;
}

/** Glance v2 already speaks these names; the mapper only keeps the fields we use. */
type WireImage = Image;

const fromWire = (w: WireImage): Image => ({
  id: w.id, name: w.name, status: w.status, size: w.size, checksum: w.checksum, visibility: w.visibility, owner: w.owner,
});

/** Glance v2. */
export class ImageClient {
  constructor(private readonly s: Session) {}

  async create(input: { name: string; diskFormat?: string; containerFormat?: string; visibility?: string }): Promise<Image> {
    const r = await this.s.request<WireImage>({
      service: 'image', method: 'POST', path: '/v2/images',
      body: {
        name: input.name,
        disk_format: input.diskFormat ?? 'raw',
        container_format: input.containerFormat ?? 'bare',
        visibility: input.visibility ?? 'public',
      },
    });
    return fromWire(r.data);
  }

  async upload(id: string, data: Buffer): Promise<void> {
    await this.s.request({ service: 'image', method: 'PUT', path: `/v2/images/${enc(id)}/file`, rawBody: data });
  }

  async get(id: string): Promise<Image> {
    return fromWire((await this.s.request<WireImage>({ service: 'image', method: 'GET', path: `/v2/images/${enc(id)}` })).data);
  }

  async findByName(name: string): Promise<Image | undefined> {
    const r = await this.s.request<{ images: WireImage[] }>({ service: 'image', method: 'GET', path: '/v2/images', query: { name } });
    return r.data.images.map(fromWire)[0];
  }

  async delete(id: string): Promise<void> {
    await this.s.request({ service: 'image', method: 'DELETE', path: `/v2/images/${enc(id)}` });
  }

  /** True when the image exists (404 → false). */
  async exists(id: string): Promise<boolean> {
    try {
      await this.get(id);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }
}
