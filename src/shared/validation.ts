import type { z } from 'zod';

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
