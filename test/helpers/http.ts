import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RecordingServer {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * A local HTTP endpoint (a consumer, an inspector stand-in) that records every
 * JSON request and answers with `statuses` in turn (200 once they run out).
 */
export async function recordingServer(statuses: number[] = []): Promise<RecordingServer> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      let body: unknown = data;
      try {
        body = data ? JSON.parse(data) : null;
      } catch {
        /* keep the text */
      }
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.statusCode = statuses[received.length - 1] ?? 200;
      res.setHeader('Content-Length', '0');
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A response body as loosely typed JSON, for assertions. */
export const json = async (res: Response): Promise<any> => res.json(); // eslint-disable-line @typescript-eslint/no-explicit-any
