import net from 'node:net';
import fs from 'node:fs';
import pg from 'pg';
import { describe, it, expect } from 'vitest';
import { startPostgres } from '../../lib/dev/postgres-server.js';

/** Resolves true if something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('startPostgres', () => {
  it('serves a created database and releases its port and temp dir on stop', async () => {
    const server = await startPostgres();
    let client: pg.Client | undefined;
    try {
      const url = await server.createDatabase('mlops_test');
      expect(url).toBe(`postgres://mlops@127.0.0.1:${server.port}/mlops_test`);
      client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await client?.end();
      await server.stop();
    }
    expect(await accepts(server.port)).toBe(false);
    expect(fs.existsSync(server.dataDir)).toBe(false);
  }, 120_000);
});
