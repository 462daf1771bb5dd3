import { NotSupportedError } from '../shared/index.js';

/** A Nova-style microversion "X.Y" as a comparable pair. */
export interface Microversion {
  major: number;
  minor: number;
}

const FORMAT = /^(\d+)\.(\d+)$/;

export function parseMicroversion(text: string): Microversion {
  const m = FORMAT.exec(text.trim());
  if (!m) throw new TypeError(`microversion "${text}" is not of the form MAJOR.MINOR (e.g. 2.53)`);
  return { major: Number(m[1]), minor: Number(m[2]) };
}

export function formatMicroversion(v: Microversion): string {
  return `${v.major}.${v.minor}`;
}

export function compareMicroversions(a: Microversion | string, b: Microversion | string): number {
  const x = typeof a === 'string' ? parseMicroversion(a) : a;
  const y = typeof b === 'string' ? parseMicroversion(b) : b;
  return x.major - y.major || x.minor - y.minor;
}

export interface VersionRange {
  min: string;
  max: string;
}

/**
 * Picks the version to speak: the highest both sides know. `wanted` is what the
 * client is written against (or the user's pin); the server's range comes from
 * its version document.
 */
export function negotiate(server: VersionRange, wanted: string, service = 'compute'): string {
  if (compareMicroversions(wanted, server.min) < 0) {
    throw new NotSupportedError(
      `${service} microversion ${wanted} is below the server's minimum ${server.min}; ` +
        `pin a version between ${server.min} and ${server.max}`,
    );
  }
  return compareMicroversions(wanted, server.max) <= 0 ? wanted : server.max;
}

/** Throws before a call that needs a newer microversion than was negotiated. */
export function requireMicroversion(current: string, needed: string, what: string): void {
  if (compareMicroversions(current, needed) < 0) {
    throw new NotSupportedError(
      `${what} needs compute microversion ${needed} but ${current} is in use ` +
        `(the cloud's maximum or the pinned version); upgrade the cloud or raise the pin`,
    );
  }
}
