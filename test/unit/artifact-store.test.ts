import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FileArtifactStore, sha256Digest } from '../../lib/artifacts/store.js';
import { IntegrityError, NotFoundError } from '../../lib/errors.js';

const newStore = (): FileArtifactStore =>
  new FileArtifactStore(fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-artifacts-')));

describe('FileArtifactStore', () => {
  it('files the same bytes under the same digest and uri, however often they are put', async () => {
    const store = newStore();
    const first = await store.put(Buffer.from('model bytes'));
    const second = await store.put(Buffer.from('model bytes'));

    expect(first).toEqual(second);
    expect(first.digest).toBe(sha256Digest('model bytes'));
    expect(first.uri.startsWith('file://')).toBe(true);
    expect((await store.get(first.uri)).toString()).toBe('model bytes');
    expect((await store.get(first.digest)).toString()).toBe('model bytes');
  });

  it('refuses to return bytes that no longer match their digest', async () => {
    const store = newStore();
    const ref = await store.put(Buffer.from('weights'));
    fs.writeFileSync(fileURLToPath(ref.uri), 'tampered');

    await expect(store.get(ref.digest)).rejects.toThrow(IntegrityError);
    await expect(store.get(ref.digest)).rejects.toThrow(/hash to sha256:/);
  });

  it('leaves no partial file behind: concurrent puts of one blob all succeed and agree', async () => {
    const store = newStore();
    const bytes = Buffer.alloc(4 * 1024 * 1024, 7);
    const refs = await Promise.all(Array.from({ length: 8 }, () => store.put(bytes)));

    expect(new Set(refs.map((ref) => ref.digest)).size).toBe(1);
    const dir = path.dirname(fileURLToPath(refs[0]!.uri));
    expect(fs.readdirSync(dir).filter((name) => name.includes('.tmp-'))).toEqual([]);
    expect((await store.get(refs[0]!.digest)).equals(bytes)).toBe(true);
  });

  it('says which digest is missing', async () => {
    await expect(newStore().get(`sha256:${'0'.repeat(64)}`)).rejects.toThrow(NotFoundError);
  });
});
