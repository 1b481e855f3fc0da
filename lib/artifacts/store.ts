import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IntegrityError, InvalidInputError, NotFoundError } from '../errors.js';

/** What a put returns: where the blob lives and the digest every reader verifies. */
export interface ArtifactRef {
  uri: string;
  /** `sha256:<64 hex>` */
  digest: string;
  sizeBytes: number;
}

/**
 * Content-addressed blobs. The same bytes always get the same digest and URI, so a put
 * is idempotent and an activity may repeat it freely. Every read verifies the digest.
 * A production `s3://` store implements the same interface.
 */
export interface ArtifactStore {
  put(bytes: Uint8Array): Promise<ArtifactRef>;
  /** Reads and verifies; throws IntegrityError when the bytes no longer match. */
  get(uriOrDigest: string): Promise<Buffer>;
  has(digest: string): Promise<boolean>;
  /** A local file holding the verified blob, for trainers that read paths. */
  localPath(uriOrDigest: string): Promise<string>;
  uriFor(digest: string): string;
}

export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** `file://` store: `<root>/sha256/<first two hex>/<rest>`; writes are atomic (temp file + rename). */
export class FileArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  uriFor(digest: string): string {
    return pathToFileURL(this.pathFor(digest)).href;
  }

  async put(bytes: Uint8Array): Promise<ArtifactRef> {
    const digest = sha256Digest(bytes);
    const target = this.pathFor(digest);
    if (!(await this.has(digest))) {
      await fs.promises.mkdir(path.dirname(target), { recursive: true });
      const temp = `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
      const handle = await fs.promises.open(temp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(temp, target);
    }
    return { uri: this.uriFor(digest), digest, sizeBytes: bytes.byteLength };
  }

  async get(uriOrDigest: string): Promise<Buffer> {
    const digest = this.digestOf(uriOrDigest);
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(this.pathFor(digest));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError(`artifact ${digest} is not in the store at ${this.root}`);
      }
      throw error;
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new IntegrityError(
        `artifact ${digest} is corrupt: its bytes hash to ${actual}; re-create it from its run`,
      );
    }
    return bytes;
  }

  async has(digest: string): Promise<boolean> {
    return fs.promises
      .access(this.pathFor(digest))
      .then(() => true)
      .catch(() => false);
  }

  async localPath(uriOrDigest: string): Promise<string> {
    const digest = this.digestOf(uriOrDigest);
    await this.get(digest);
    return this.pathFor(digest);
  }

  private pathFor(digest: string): string {
    const hex = DIGEST.exec(digest)?.[1];
    if (!hex)
      throw new InvalidInputError(`artifact digest: must be sha256:<64 hex> (got ${digest})`);
    return path.join(this.root, 'sha256', hex.slice(0, 2), hex.slice(2));
  }

  private digestOf(uriOrDigest: string): string {
    if (DIGEST.test(uriOrDigest)) return uriOrDigest;
    if (!uriOrDigest.startsWith('file://')) {
      throw new InvalidInputError(
        `artifact uri: must be a file:// uri or a sha256 digest (got ${uriOrDigest})`,
      );
    }
    const parts = fileURLToPath(uriOrDigest).split(path.sep);
    return `sha256:${parts.at(-2) ?? ''}${parts.at(-1) ?? ''}`;
  }
}
