import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openPglite } from '../../lib/db/db.js';

describe('openPglite', () => {
  it('refuses a directory another running process has open, naming that process', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-lock-')), 'pglite');
    // pid 1 always runs: it stands for another mlops process holding the database.
    fs.writeFileSync(`${dir}.lock`, '1');

    await expect(openPglite(dir)).rejects.toThrow(
      /in use by process 1; stop that process, or give this one its own MLOPS_HOME/,
    );
  });

  it('takes over a lock left by a process that no longer runs, and releases it on close', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-lock-')), 'pglite');
    fs.writeFileSync(`${dir}.lock`, '2147483646');

    const db = await openPglite(dir);
    expect(fs.readFileSync(`${dir}.lock`, 'utf8')).toBe(String(process.pid));
    await db.close();
    expect(fs.existsSync(`${dir}.lock`)).toBe(false);
  });
});
