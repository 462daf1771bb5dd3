import { createHmac } from 'node:crypto';

/**
 * OpenSSH known_hosts matching: plain names, [host]:port, comma lists,
 * negations (!host), hashed names (|1|salt|hash), and @revoked keys.
 * @cert-authority lines are not supported and never match.
 */
export type HostKeyVerdict = { result: 'match' } | { result: 'mismatch'; known: string[] } | { result: 'revoked' } | { result: 'unknown' };

interface Entry {
  marker: '' | '@revoked' | '@cert-authority';
  patterns: string[];
  keyType: string;
  key: string;
}

export function parseKnownHosts(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    const marker = parts[0]!.startsWith('@') ? (parts.shift() as Entry['marker']) : '';
    const [hosts, keyType, key] = parts;
    if (!hosts || !keyType || !key) continue;
    entries.push({ marker, patterns: hosts.split(','), keyType, key });
  }
  return entries;
}

/** The name known_hosts uses for host:port (port 22 is written bare). */
export function hostToken(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function patternMatches(pattern: string, token: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64') === hash;
  }
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(token);
}

function entryMatches(e: Entry, token: string): boolean {
  let matched = false;
  for (const p of e.patterns) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), token)) return false;
    } else if (patternMatches(p, token)) matched = true;
  }
  return matched;
}

/** Checks a presented host key (type + base64 blob) against known_hosts text. */
export function verifyHostKey(knownHosts: string, host: string, port: number, keyType: string, keyBase64: string): HostKeyVerdict {
  const token = hostToken(host, port);
  const entries = parseKnownHosts(knownHosts).filter((e) => e.marker !== '@cert-authority' && entryMatches(e, token));
  if (entries.some((e) => e.marker === '@revoked' && e.key === keyBase64)) return { result: 'revoked' };
  const plain = entries.filter((e) => e.marker === '');
  if (!plain.length) return { result: 'unknown' };
  if (plain.some((e) => e.keyType === keyType && e.key === keyBase64)) return { result: 'match' };
  return { result: 'mismatch', known: plain.map((e) => e.keyType) };
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('ascii');
}
