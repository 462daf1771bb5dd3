import { createHash } from 'node:crypto';
import express, { type Response, Router } from 'express';
import { jsonBody } from '../../shared/index.js';
import type { Cloud } from './cloud.js';
import { isoSeconds, pyRepr, uuid } from './format.js';
import { auth, authMiddleware, errorHandler, isRecord, qs, sendError, MAX_REQUEST_BODY } from './http.js';
import type { ImageRec } from './state.js';

const VERSIONS = ['v2.15', 'v2.13', 'v2.12', 'v2.11', 'v2.10', 'v2.9', 'v2.8', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'];
const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'];
const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'];

const err = (res: Response, status: number, message: string) => sendError(res, 'image', status, message);

/** Glance v2 subset: create (queued), upload (active), get, list by name, delete. */
export function glanceRouter(cloud: Cloud): Router {
  const r = Router();
  const s = cloud.state;
  const versions = () => ({
    versions: VERSIONS.map((id, i) => ({ id, status: i === 0 ? 'CURRENT' : 'SUPPORTED', links: [{ rel: 'self', href: `${cloud.baseUrl}/image/v2/` }] })),
  });
  r.get('/', (_req, res) => {
    res.status(300).json(versions());
  });
  r.get('/versions', (_req, res) => {
    res.json(versions());
  });

  const view = (i: ImageRec): Record<string, unknown> => {
    const v: Record<string, unknown> = {
      name: i.name, disk_format: i.diskFormat, container_format: i.containerFormat, visibility: i.visibility,
      size: i.size, virtual_size: i.size, status: i.status, checksum: i.checksum, protected: i.protected,
      min_ram: 0, min_disk: 0, owner: i.owner, os_hidden: false,
      os_hash_algo: i.hashValue ? 'sha512' : null, os_hash_value: i.hashValue, id: i.id,
      created_at: isoSeconds(i.createdAt), updated_at: isoSeconds(i.updatedAt), tags: [],
      self: `/v2/images/${i.id}`, file: `/v2/images/${i.id}/file`, schema: '/v2/schemas/image',
    };
    if (i.status === 'active') v['stores'] = 'fs';
    return v;
  };
  const visible = (i: ImageRec, res: Response) => {
    const ctx = auth(res);
    return ctx.isAdmin || i.visibility === 'public' || i.visibility === 'community' || i.owner === ctx.projectId;
  };

  const v2 = Router();
  v2.use(authMiddleware(s, cloud.now));
  v2.post('/images', jsonBody(MAX_REQUEST_BODY), (req, res) => {
    const b = isRecord(req.body) ? req.body : {};
    const ctx = auth(res);
    const visibility = typeof b['visibility'] === 'string' ? b['visibility'] : 'shared';
    if (!['public', 'private', 'shared', 'community'].includes(visibility)) return err(res, 400, `Invalid visibility value: ${visibility}`);
    if (visibility === 'public' && !ctx.isAdmin) return err(res, 403, 'You are not authorized to complete publicize_image action.');
    if (b['disk_format'] != null && !(typeof b['disk_format'] === 'string' && DISK_FORMATS.includes(b['disk_format']))) {
      return err(res, 400, `Provided object does not match schema 'image': ${pyRepr(b['disk_format'])} is not one of ${JSON.stringify(DISK_FORMATS)}`);
    }
    if (b['container_format'] != null && !(typeof b['container_format'] === 'string' && CONTAINER_FORMATS.includes(b['container_format']))) {
      return err(res, 400, `Provided object does not match schema 'image': ${pyRepr(b['container_format'])} is not one of ${JSON.stringify(CONTAINER_FORMATS)}`);
    }
    const now = cloud.now();
    const img: ImageRec = {
      id: typeof b['id'] === 'string' ? b['id'] : uuid(),
      name: typeof b['name'] === 'string' ? b['name'] : '',
      diskFormat: typeof b['disk_format'] === 'string' ? b['disk_format'] : null,
      containerFormat: typeof b['container_format'] === 'string' ? b['container_format'] : null,
      visibility, status: 'queued', size: null, checksum: null, hashValue: null,
      owner: ctx.projectId, protected: b['protected'] === true, createdAt: now, updatedAt: now,
    };
    if (s.images.has(img.id)) return err(res, 409, `An image with identifier ${img.id} already exists`);
    s.images.set(img.id, img);
    res.status(201).setHeader('Location', `${cloud.baseUrl}/image/v2/images/${img.id}`);
    res.json(view(img));
  });
  v2.get('/images', (req, res) => {
    const name = qs(req, 'name');
    const list = [...s.images.values()].filter((i) => visible(i, res) && (!name || i.name === name)).sort((a, b) => b.createdAt - a.createdAt);
    const self = `/v2/images${req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : ''}`;
    res.json({ images: list.map(view), first: self, schema: '/v2/schemas/images' });
  });
  const find = (id: string, res: Response) => {
    const img = s.images.get(id);
    if (!img || !visible(img, res)) {
      err(res, 404, `No image found with ID ${id}`);
      return undefined;
    }
    return img;
  };
  v2.get('/images/:id', (req, res) => {
    const img = find(String(req.params['id']), res);
    if (img) res.json(view(img));
  });
  v2.put('/images/:id/file', express.raw({ type: () => true, limit: '1gb' }), (req, res) => {
    const img = find(String(req.params['id']), res);
    if (!img) return;
    const ctx = auth(res);
    if (!ctx.isAdmin && img.owner !== ctx.projectId) return err(res, 403, 'You are not authorized to complete upload_image action.');
    if (img.status !== 'queued') return err(res, 409, `Image status transition from ${img.status} to saving is not allowed`);
    const data = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    img.size = data.length;
    img.checksum = createHash('md5').update(data).digest('hex');
    img.hashValue = createHash('sha512').update(data).digest('hex');
    img.status = 'active';
    img.updatedAt = cloud.now();
    res.status(204).setHeader('Content-Type', 'text/html; charset=UTF-8');
    res.end();
  });
  v2.delete('/images/:id', (req, res) => {
    const img = find(String(req.params['id']), res);
    if (!img) return;
    const ctx = auth(res);
    if (!ctx.isAdmin && img.owner !== ctx.projectId) return err(res, 403, 'You are not authorized to complete delete_image action.');
    if (img.protected) return err(res, 403, `Image ${img.id} is protected and cannot be deleted.`);
    s.images.delete(img.id);
    res.status(204).setHeader('Content-Type', 'text/html; charset=UTF-8');
    res.end();
  });

  r.use('/v2', v2);
  r.use(errorHandler('image'));
  return r;
}
