import type { Session } from '../session.js';
import { enc } from '../identity.js';

export interface QuotaSet {
  instances: number;
  cores: number;
  ram: number;
}

export class QuotasApi {
  constructor(private readonly s: Session) {}

  async get(projectId: string): Promise<QuotaSet> {
    const r = await this.s.request<{ quota_set: QuotaSet }>({
      service: 'compute', method: 'GET', path: `/os-quota-sets/${enc(projectId)}`, microversion: true,
    });
    const q = r.data.quota_set;
    return { instances: q.instances, cores: q.cores, ram: q.ram };
  }

  async update(projectId: string, values: Partial<QuotaSet>): Promise<QuotaSet> {
    const r = await this.s.request<{ quota_set: QuotaSet }>({
      service: 'compute', method: 'PUT', path: `/os-quota-sets/${enc(projectId)}`,
      body: { quota_set: values }, microversion: true,
    });
    const q = r.data.quota_set;
    return { instances: q.instances, cores: q.cores, ram: q.ram };
  }
}
