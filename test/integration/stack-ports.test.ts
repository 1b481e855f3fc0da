import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { PortInUseError } from '../../lib/dev/temporal-server.js';
import { createLogger } from '../../lib/logger.js';
import { startStack } from '../../workers/stack.js';

describe('startStack', () => {
  const servers: net.Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  it('refuses a taken gateway port before it starts or writes anything, naming the setting', async () => {
    const holder = net.createServer();
    servers.push(holder);
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    const home = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-ports-')), 'home');
    const config = loadConfig({
      ...process.env,
      MLOPS_HOME: home,
      MLOPS_GATEWAY_PORT: String(port),
      MLOPS_API_PORT: '0',
      DATABASE_URL: '',
    });

    const refused = await startStack({
      config,
      logger: createLogger('silent'),
      devServer: true,
      worker: true,
      api: true,
      gateway: true,
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PortInUseError);
    expect((refused as Error).message).toBe(
      `port ${port} (the gateway) is already in use on 127.0.0.1; stop what holds it, or set MLOPS_GATEWAY_PORT to another port`,
    );
    // No dev server, database or token was started or written.
    expect(fs.existsSync(home)).toBe(false);
  });
});
