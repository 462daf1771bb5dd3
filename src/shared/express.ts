import type { Express, NextFunction, Request, Response } from 'express';

/**
 * The tail every harness service ends with: a 404 that says what the service
 * does take, and JSON errors (bad JSON is a 400 naming the body, never a 500 page).
 */
export function jsonTail(app: Express, routesHint: string): void {
  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: `no route ${req.method} ${req.path}; ${routesHint}` });
  });
  app.use((err: { type?: string; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === 'entity.parse.failed') {
      res.status(400).json({ error: `body: not valid JSON (${err.message})`, field: 'body' });
      return;
    }
    res.status(500).json({ error: err.message ?? 'internal error' });
  });
}
