import { connect, createServer } from 'node:net';

/** True once something accepts a TCP connection on ip:port; false at the deadline (each try waits at most 500 ms). */
export async function waitForPort(ip: string, port: number, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: ip, port, timeout: 500 });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** A TCP port free on host (127.0.0.1 unless told) at the time of asking: for a service, a test or the bench. */
export const freePort = (host = '127.0.0.1') => new Promise<number>((resolve, reject) => {
  const s = createServer().once('error', reject).listen(0, host, () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => resolve(port));
  });
});
