import { z } from 'zod';

/** The first problem of a zod error as "field.path: what is wrong", for 400 answers and config errors. */
export function describeIssue(error: z.ZodError, prefix = ''): { field: string; message: string } {
  const issue = error.issues[0]!;
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const path = [...issue.path, ...keys.slice(0, 1)].map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  if (keys.length) return { field: `${prefix}${path}`.replace(/^\./, ''), message: 'is not a known setting' };
  const field = `${prefix}${path}`.replace(/^\./, '') || 'body';
  const message =
    issue.code === 'invalid_type' && /received undefined/.test(issue.message) ? 'is required'
      : issue.code === 'invalid_type' && /received NaN/.test(issue.message) ? 'must be a number'
        : issue.message;
  return { field, message };
}

const TRUE_WORDS = ['true', 'yes', '1', 'on'];
const FALSE_WORDS = ['false', 'no', '0', 'off'];

/**
 * A yes/no value as files, flags and the environment give it: a boolean, or exactly one of
 * true/false/yes/no/1/0/on/off (any case). Anything else is refused, so a YAML `no` (a string)
 * or a typo can never turn a safety check off.
 */
export function parseBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v !== 'string') return undefined;
  const w = v.trim().toLowerCase();
  if (TRUE_WORDS.includes(w)) return true;
  if (FALSE_WORDS.includes(w)) return false;
  return undefined;
}

export const BOOLEAN_WORDS = 'true/false, yes/no, 1/0 or on/off';

export const booleanSetting = z.unknown().transform((v, ctx) => {
  const b = parseBoolean(v);
  if (b === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be ${BOOLEAN_WORDS} (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return b;
});
