import type { z } from 'zod';

/** The first problem of a zod error as "field.path: what is wrong", for 400 answers and config errors. */
export function describeIssue(error: z.ZodError, prefix = ''): { field: string; message: string } {
  const issue = error.issues[0]!;
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  const field = `${prefix}${path}`.replace(/^\./, '') || 'body';
  const message = issue.code === 'invalid_type' && /received undefined/.test(issue.message) ? 'is required' : issue.message;
  return { field, message };
}
