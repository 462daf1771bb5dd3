import { createHmac, randomUUID } from 'node:crypto';

/**
 * OSProfiler trace headers (osprofiler/web.py): X-Trace-Info is the padded
 * urlsafe base64 of {"base_id","parent_id"}; X-Trace-HMAC is hex HMAC-SHA1
 * with the shared key over that base64 text. Any other key in the JSON makes
 * the server ignore the trace silently, so nothing else goes in.
 */
export interface ProfilerOptions {
  hmacKey: string;
  traceId?: string;
}

export function urlsafeBase64(data: Buffer | string): string {
  return Buffer.from(data).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export function traceHeaders(hmacKey: string, baseId: string, parentId = baseId): Record<string, string> {
  const info = urlsafeBase64(JSON.stringify({ base_id: baseId, parent_id: parentId }));
  const hmac = createHmac('sha1', hmacKey).update(info).digest('hex');
  return { 'X-Trace-Info': info, 'X-Trace-HMAC': hmac };
}

export function newTraceId(): string {
  return randomUUID();
}
