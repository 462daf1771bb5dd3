import { describe, expect, it } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import { hostToken, verifyHostKey } from '../../src/orchestrator/index.js';

const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIE4Ck1bXPDUO7eqLAnqHVArjfK8CI0aSIXP0zygzrUVV';
const OTHER = 'AAAAC3NzaC1lZDI1NTE5AAAAIPBrm7I2Mn6tVhnzfDG5BZcVjK6+TdZJRgm3DHGpDrte';

describe('known_hosts', () => {
  it('matches plain, listed, bracketed-port and wildcard entries', () => {
    const text = `# comment\n198.18.0.2 ssh-ed25519 ${KEY}\nhost-a,198.18.0.6 ssh-ed25519 ${KEY}\n[198.18.0.10]:2222 ssh-ed25519 ${KEY}\n*.lab ssh-ed25519 ${KEY}\n`;
    expect(verifyHostKey(text, '198.18.0.2', 22, 'ssh-ed25519', KEY)).toEqual({ result: 'match' });
    expect(verifyHostKey(text, '198.18.0.6', 22, 'ssh-ed25519', KEY)).toEqual({ result: 'match' });
    expect(verifyHostKey(text, '198.18.0.10', 2222, 'ssh-ed25519', KEY)).toEqual({ result: 'match' });
    expect(verifyHostKey(text, '198.18.0.10', 22, 'ssh-ed25519', KEY)).toEqual({ result: 'unknown' });
    expect(verifyHostKey(text, 'c1.lab', 22, 'ssh-ed25519', KEY)).toEqual({ result: 'match' });
    expect(hostToken('h', 2222)).toBe('[h]:2222');
  });

  it('reports a changed key as a mismatch, not as unknown', () => {
    expect(verifyHostKey(`198.18.0.2 ssh-ed25519 ${KEY}\n`, '198.18.0.2', 22, 'ssh-ed25519', OTHER)).toEqual({ result: 'mismatch', known: ['ssh-ed25519'] });
  });

  it('matches hashed entries (HashKnownHosts yes)', () => {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('198.18.0.2').digest('base64');
    const text = `|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${KEY}\n`;
    expect(verifyHostKey(text, '198.18.0.2', 22, 'ssh-ed25519', KEY)).toEqual({ result: 'match' });
    expect(verifyHostKey(text, '198.18.0.3', 22, 'ssh-ed25519', KEY)).toEqual({ result: 'unknown' });
  });

  it('honours negation and @revoked', () => {
    expect(verifyHostKey(`*,!198.18.0.2 ssh-ed25519 ${KEY}\n`, '198.18.0.2', 22, 'ssh-ed25519', KEY)).toEqual({ result: 'unknown' });
    expect(verifyHostKey(`198.18.0.2 ssh-ed25519 ${KEY}\n@revoked * ssh-ed25519 ${KEY}\n`, '198.18.0.2', 22, 'ssh-ed25519', KEY)).toEqual({ result: 'revoked' });
  });
});
