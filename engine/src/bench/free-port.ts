/**
 * A TCP port free on 127.0.0.1 right now, for the throwaway servers the tests and the bench start
 * (PostgreSQL, redis-server): the OS picks one for a listener that is closed at once. Another
 * process could take it before the server binds; the launchers retry on a failed start.
 */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
