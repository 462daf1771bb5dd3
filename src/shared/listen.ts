import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { preciseNow, type Clock } from './clock.js';

export interface Listening {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

const arrivals = new WeakMap<IncomingMessage, number>();

/** When the first byte of this request reached the server (the clock `listen` was given); undefined if not seen. */
export function requestArrival(req: IncomingMessage): number | undefined {
  return arrivals.get(req);
}

/**
 * Stamps each request when its first bytes are read from the socket, before the
 * HTTP parser, the app and the body: the instant a webhook arrived, not when it was
 * parsed (which waits behind whatever the process did with the requests before it).
 * A socket's next request is stamped once the previous response is sent; a pipelined
 * request that arrived before that is stamped when it is parsed.
 */
function stampArrivals(server: Server, now: Clock): void {
  const pending = new WeakMap<Socket, { at?: number; busy: boolean }>();
  server.on('connection', (socket: Socket) => {
    const state = { busy: false } as { at?: number; busy: boolean };
    pending.set(socket, state);
    // Before the parser's own listener: the stamp is taken as the bytes come in.
    socket.prependListener('data', () => {
      if (!state.busy && state.at === undefined) state.at = now();
    });
  });
  server.prependListener('request', (req: IncomingMessage, res) => {
    const state = pending.get(req.socket);
    arrivals.set(req, state?.at ?? now());
    if (!state) return;
    state.at = undefined;
    state.busy = true;
    res.once('close', () => {
      state.busy = false;
    });
  });
}

/** Binds an app (loopback unless told otherwise); port 0 picks a free one. A busy port is a clear error. */
export async function listen(app: RequestListener, opts: { host?: string; port?: number; name?: string; clock?: Clock } = {}): Promise<Listening> {
  const host = opts.host ?? '127.0.0.1';
  const server = createServer(app);
  stampArrivals(server, opts.clock ?? preciseNow);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`${opts.name ?? 'the service'} cannot listen on ${host}:${opts.port}: the port is in use; choose another port or stop what holds it`)
          : err,
      );
    });
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}
