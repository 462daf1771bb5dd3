import type { Session } from '../session.js';
import { enc } from '../identity.js';

export interface Flavor {
  id: string;
  name: string;
  ram?: number;
  vcpus?: number;
  disk?: number;
}

export class FlavorsApi {
  constructor(private readonly s: Session) {}

  async create(input: { name: string; ram: number; vcpus: number; disk: number }): Promise<Flavor> {
    const r = await this.s.request<{ flavor: Flavor }>({
      service: 'compute', method: 'POST', path: '/flavors', body: { flavor: input }, microversion: true,
    });
    const f = r.data.flavor;
    return { id: f.id, name: f.name, ram: f.ram, vcpus: f.vcpus, disk: f.disk };
  }

  async list(): Promise<Flavor[]> {
    const r = await this.s.request<{ flavors: Flavor[] }>({ service: 'compute', method: 'GET', path: '/flavors', microversion: true });
    return r.data.flavors.map((f) => ({ id: f.id, name: f.name }));
  }

  async findByName(name: string): Promise<Flavor | undefined> {
    return (await this.list()).find((f) => f.name === name);
  }

  async delete(id: string): Promise<void> {
    await this.s.request({ service: 'compute', method: 'DELETE', path: `/flavors/${enc(id)}`, microversion: true });
  }
}
