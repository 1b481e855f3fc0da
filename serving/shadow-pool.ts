import { Worker } from 'node:worker_threads';
import type { EmailFeatures } from '../lib/corpus/email-row.js';
import type { Logger } from '../lib/logger.js';
import type { SparseVector } from '../lib/model/features.js';
import type { LinearModel } from '../lib/model/logistic-regression.js';
import type { Runtime } from './runtime-cache.js';

/**
 * A copy to answer: the e-mail, or the vector the primary already made of it when the
 * shadow reads the same features (the worker then only scores it).
 */
export type ShadowInput = { email: EmailFeatures } | { vector: SparseVector };

/** What the gateway sends its shadow worker: a model once, then copies to answer. */
export type ShadowMessage =
  | { type: 'load'; digest: string; linear: LinearModel }
  | ({ type: 'predict'; id: number; digest: string } & ShadowInput);

export type ShadowAnswer = { id: number; label: 'spam' | 'ham' } | { id: number; error: string };

/**
 * What passes between the threads: messages go over in batches and answers come back in
 * batches, so a busy shadow costs a few thread wake-ups a second, not one per copy.
 */
export type ShadowBatch = ShadowMessage[];
export type ShadowAnswers = ShadowAnswer[];

/**
 * Answers shadow copies on a worker thread, so a shadow version's work never runs on the
 * event loop that answers primary requests. Copies are sent together at most every
 * `batchMs`: each message wakes both threads, which on a busy core costs more than scoring
 * the copy. At most `limit` copies wait at a time, queued or sent; a copy that does not fit
 * is dropped and counted, never waited for. A worker that dies is replaced at the first copy
 * `retryAfterMs` later; the copies it held, and those offered meanwhile, count as dropped.
 */
export class ShadowPool {
  private worker: Worker | null = null;
  /** Digests the current worker has been given. */
  private readonly given = new Set<string>();
  private readonly waiting = new Map<number, (label: 'spam' | 'ham') => void>();
  private nextId = 0;
  /** Messages not sent yet, in order, and the timer that sends them. */
  private queued: ShadowBatch = [];
  private sendTimer: NodeJS.Timeout | null = null;
  /** No new worker before this instant (ms): one that fails at start must not spin. */
  private retryAt = 0;
  dropped = 0;

  constructor(
    private readonly logger: Logger,
    private readonly limit = 1000,
    private readonly retryAfterMs = 5_000,
    private readonly batchMs = 20,
  ) {}

  /** Sends a copy of `input` to `runtime` off the request path; false when dropped. */
  offer(runtime: Runtime, input: ShadowInput, onLabel: (label: 'spam' | 'ham') => void): boolean {
    const worker = this.waiting.size < this.limit ? this.currentWorker() : null;
    if (!worker) {
      this.dropped += 1;
      return false;
    }
    if (!this.given.has(runtime.artifactDigest)) {
      const load: ShadowMessage = {
        type: 'load',
        digest: runtime.artifactDigest,
        linear: runtime.linear,
      };
      this.queued.push(load);
      this.given.add(runtime.artifactDigest);
    }
    this.nextId += 1;
    this.waiting.set(this.nextId, onLabel);
    const message: ShadowMessage = {
      type: 'predict',
      id: this.nextId,
      digest: runtime.artifactDigest,
      ...input,
    };
    this.queued.push(message);
    this.sendTimer ??= setTimeout(() => this.send(), this.batchMs).unref();
    return true;
  }

  private send(): void {
    this.sendTimer = null;
    const batch = this.queued;
    this.queued = [];
    this.worker?.postMessage(batch);
  }

  /** Forgets what was not sent yet (the caller counts or clears what it waited for). */
  private dropQueued(): void {
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = null;
    this.queued = [];
  }

  /** Copies offered and not answered yet, queued or sent. */
  get depth(): number {
    return this.waiting.size;
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.dropQueued();
    await worker?.terminate();
    this.waiting.clear();
  }

  private currentWorker(): Worker | null {
    if (this.worker) return this.worker;
    if (Date.now() < this.retryAt) return null;
    // Started without the parent's loader flags: the entry registers its own.
    const worker = new Worker(new URL('./shadow-worker.mjs', import.meta.url), { execArgv: [] });
    // Shadow work never keeps a process alive.
    worker.unref();
    worker.on('message', (answers: ShadowAnswers) => {
      for (const answer of answers) {
        const onLabel = this.waiting.get(answer.id);
        this.waiting.delete(answer.id);
        if ('label' in answer) onLabel?.(answer.label);
        else {
          this.dropped += 1;
          this.logger.warn({ error: answer.error }, 'shadow copy not answered');
        }
      }
    });
    const lost = (reason: string): void => {
      if (this.worker !== worker) return;
      this.logger.warn(
        { reason, lost: this.waiting.size },
        'shadow worker stopped; copies dropped',
      );
      this.dropped += this.waiting.size;
      this.waiting.clear();
      this.dropQueued();
      this.given.clear();
      this.worker = null;
      this.retryAt = Date.now() + this.retryAfterMs;
    };
    worker.on('error', (error) => lost(error.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    this.worker = worker;
    this.given.clear();
    return worker;
  }
}
