import type { ArtifactStore } from '../lib/artifacts/store.js';
import type { Db } from '../lib/db/db.js';
import type { EmailFeatures } from '../lib/corpus/email-row.js';
import type { SparseVector } from '../lib/model/features.js';
import {
  classify,
  classifyVector,
  decodeModel,
  featureKey,
  featurizeFor,
  type Classification,
  type LinearModel,
} from '../lib/model/logistic-regression.js';
import type { VersionState } from '../lib/serving/route-store.js';

/** A loaded, verified model version, ready to answer. */
export interface Runtime {
  model: string;
  version: number;
  artifactDigest: string;
  threshold: number;
  /** The decoded model, verified: what a shadow worker thread is given to answer with. */
  linear: LinearModel;
  /** Runtimes with the same key read the same vector: one featurized input serves both. */
  featureKey: string;
  featurize(features: EmailFeatures): SparseVector;
  predictVector(vector: SparseVector): Classification;
  predict(features: EmailFeatures): Classification;
}

/** The runtime of a decoded, verified model. */
export function runtimeOf(
  model: string,
  version: number,
  artifactDigest: string,
  linear: LinearModel,
): Runtime {
  return {
    model,
    version,
    artifactDigest,
    threshold: linear.params.threshold,
    linear,
    featureKey: featureKey(linear),
    featurize: (features) => featurizeFor(linear, features),
    predictVector: (vector) => classifyVector(linear, vector),
    predict: (features) => classify(linear, features),
  };
}

type Entry =
  | { state: 'loading'; done: Promise<void> }
  | { state: 'ready'; runtime: Runtime }
  | { state: 'failed'; error: string };

/**
 * Loads model versions by artifact digest, verifies the bytes, and keeps them warm. A
 * version that fails to load stays failed (with its reason) and gets no traffic; it is
 * tried again only when a route asks for it after `retryAfterMs`.
 */
export class RuntimeCache {
  private readonly entries = new Map<string, Entry & { at: number }>();

  constructor(
    private readonly db: Db,
    private readonly store: ArtifactStore,
    private readonly retryAfterMs = 10_000,
  ) {}

  /** Loads every listed version that is not loaded yet; resolves when each has succeeded or failed. */
  async ensure(model: string, versions: number[]): Promise<void> {
    await Promise.all(versions.map((version) => this.load(model, version)));
  }

  get(model: string, version: number): Runtime | null {
    const entry = this.entries.get(key(model, version));
    return entry?.state === 'ready' ? entry.runtime : null;
  }

  state(model: string, version: number): VersionState {
    const entry = this.entries.get(key(model, version));
    if (entry?.state === 'ready') return { ready: true, error: null };
    if (entry?.state === 'failed') return { ready: false, error: entry.error };
    return { ready: false, error: entry ? 'loading' : 'not requested' };
  }

  private async load(model: string, version: number): Promise<void> {
    const existing = this.entries.get(key(model, version));
    if (existing?.state === 'ready') return;
    if (existing?.state === 'loading') return existing.done;
    if (existing?.state === 'failed' && Date.now() - existing.at < this.retryAfterMs) return;

    const done = this.fetch(model, version).then(
      (runtime) =>
        void this.entries.set(key(model, version), { state: 'ready', runtime, at: Date.now() }),
      (error: unknown) =>
        void this.entries.set(key(model, version), {
          state: 'failed',
          error: (error as Error).message,
          at: Date.now(),
        }),
    );
    this.entries.set(key(model, version), { state: 'loading', done, at: Date.now() });
    return done;
  }

  private async fetch(model: string, version: number): Promise<Runtime> {
    const { rows } = await this.db.query<{ artifact_digest: string; status: string }>(
      'SELECT artifact_digest, status FROM model_versions WHERE model = $1 AND version = $2',
      [model, version],
    );
    const row = rows[0];
    if (!row || row.status === 'deleted')
      throw new Error(`${model} v${version} is not in the registry`);
    // get() verifies the digest: a corrupt or swapped artifact never serves.
    const linear = decodeModel(await this.store.get(row.artifact_digest));
    return runtimeOf(model, version, row.artifact_digest, linear);
  }
}

const key = (model: string, version: number): string => `${model}\u0000${version}`;
