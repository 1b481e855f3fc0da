import { randomFillSync } from 'node:crypto';
import type { PredictionColumns } from './metric-store.js';

const SLOT_HEX = 5;
const MAX_CAPACITY = 16 ** SLOT_HEX;
const LABELS = [null, 'spam', 'ham'] as const;
type Label = 'spam' | 'ham';
const codeOf = (label: Label): number => (label === 'spam' ? 1 : 2);

const HEX1 = '0123456789abcdef'.split('');
const HEX2 = Array.from({ length: 256 }, (_, i) => HEX1[i >> 4]! + HEX1[i & 15]!);

/** When a prediction id (a UUIDv7) was made, in ms since the epoch; null if it is not one. */
export function timeOfId(id: string): number | null {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(id))
    return null;
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** One remembered prediction, as the feedback path reads it. */
export interface RecentPrediction {
  id: string;
  model: string;
  version: number;
  label: Label;
  /** When it was made, in ms since the epoch. */
  at: number;
  feedback?: { label: Label; at: number };
  /** True once written to the predictions table: from then on the database decides feedback. */
  saved: boolean;
}

/** Predictions not written yet, one array per column, in the order they were made. */
export interface UnsavedPredictions extends PredictionColumns {
  /** Where they end in the order made: `markSaved` takes the batch back once written. */
  until: number;
}

/**
 * The last `capacity` predictions a replica made, found by id without a hash table and kept
 * without an object each. Each id names the slot of a ring that holds it in its last five hex
 * digits, and everything else about the prediction sits in typed arrays at that slot: adding
 * is a few array stores, finding is one read and a comparison, and the garbage collector has
 * nothing to trace or promote (a ring of 131,072 objects and id strings was most of the
 * gateway's GC time). An id from another replica, or one whose slot has since been reused,
 * is simply not found here.
 *
 * The ids are UUIDs of version 7 (RFC 9562): the first 48 bits are the time in ms, so the
 * predictions table's primary key grows at its right edge instead of taking each row on a
 * random page, which is what PostgreSQL spends least on; 54 bits are random, kept here so
 * that the id can be written out again when the prediction is flushed.
 *
 * It also knows which predictions are not yet written to the database: those made since the
 * last `markSaved`, at most `capacity` (older ones have left the ring and are not logged).
 *
 * Why not a Map: one trimmed from its front (`delete(keys().next().value)`) keeps every
 * deleted entry in its table until the table is rebuilt, and `keys()` walks past them from
 * the start, so a full map took tens of µs per insert (npm run bench:recent).
 */
export class RecentPredictions {
  /** 1 + the position in the order made of the prediction in each slot; 0: empty. */
  private readonly made: Float64Array;
  private readonly atMs: Float64Array;
  /** The id's random bits: 26 (its third group after the version digit, and its fourth's 14) ... */
  private readonly randomHigh: Uint32Array;
  /** ... and 28 (the start of its fifth group). */
  private readonly randomLow: Uint32Array;
  private readonly model: Uint16Array;
  private readonly version: Int32Array;
  private readonly label: Uint8Array;
  private readonly feedbackLabel: Uint8Array;
  private readonly feedbackAtMs: Float64Array;
  private readonly models: string[] = [];
  private readonly modelIndex = new Map<string, number>();
  private count = 0;
  private saved = 0;
  private readonly random = new Uint32Array(2048);
  private randomUsed = this.random.length;
  private timeMs = -1;
  private timeHex = '';

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY)
      throw new Error(
        `RecentPredictions capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${capacity}`,
      );
    this.made = new Float64Array(capacity);
    this.atMs = new Float64Array(capacity);
    this.randomHigh = new Uint32Array(capacity);
    this.randomLow = new Uint32Array(capacity);
    this.model = new Uint16Array(capacity);
    this.version = new Int32Array(capacity);
    this.label = new Uint8Array(capacity);
    this.feedbackLabel = new Uint8Array(capacity);
    this.feedbackAtMs = new Float64Array(capacity);
  }

  /** Remembers a prediction made now, in place of the oldest; returns its new id. */
  add(model: string, version: number, label: Label): string {
    const slot = this.count % this.capacity;
    this.count += 1;
    if (this.randomUsed + 2 > this.random.length) {
      randomFillSync(this.random);
      this.randomUsed = 0;
    }
    this.made[slot] = this.count;
    this.atMs[slot] = Date.now();
    this.randomHigh[slot] = this.random[this.randomUsed]! & 0x3ffffff;
    this.randomLow[slot] = this.random[this.randomUsed + 1]! & 0xfffffff;
    this.randomUsed += 2;
    this.model[slot] = this.indexOf(model);
    this.version[slot] = version;
    this.label[slot] = codeOf(label);
    this.feedbackLabel[slot] = 0;
    return this.idAt(slot);
  }

  /** The remembered prediction with this id, or undefined. */
  get(id: string): RecentPrediction | undefined {
    const slot = this.slotOf(id);
    if (slot === -1) return undefined;
    const feedback = LABELS[this.feedbackLabel[slot]!];
    return {
      id: id.toLowerCase(),
      model: this.models[this.model[slot]!]!,
      version: this.version[slot]!,
      label: LABELS[this.label[slot]!]!,
      at: this.atMs[slot]!,
      ...(feedback ? { feedback: { label: feedback, at: this.feedbackAtMs[slot]! } } : {}),
      saved: this.made[slot]! <= this.saved,
    };
  }

  /** Records the feedback of a remembered prediction; false if `id` is not remembered. */
  setFeedback(id: string, label: Label, atMs: number): boolean {
    const slot = this.slotOf(id);
    if (slot === -1) return false;
    this.feedbackLabel[slot] = codeOf(label);
    this.feedbackAtMs[slot] = atMs;
    return true;
  }

  /** The predictions not written yet (with their feedback so far), oldest first. */
  unsaved(): UnsavedPredictions {
    const from = Math.max(this.saved, this.count - this.capacity);
    const rows: UnsavedPredictions = {
      until: this.count,
      ids: [],
      models: [],
      versions: [],
      labels: [],
      at: [],
      feedbackLabels: [],
      feedbackAt: [],
    };
    for (let n = from; n < this.count; n++) {
      const slot = n % this.capacity;
      const feedback = LABELS[this.feedbackLabel[slot]!]!;
      rows.ids.push(this.idAt(slot));
      rows.models.push(this.models[this.model[slot]!]!);
      rows.versions.push(this.version[slot]!);
      rows.labels.push(LABELS[this.label[slot]!]!);
      rows.at.push(this.atMs[slot]!);
      rows.feedbackLabels.push(feedback);
      rows.feedbackAt.push(feedback ? this.feedbackAtMs[slot]! : null);
    }
    return rows;
  }

  /**
   * Marks `written` (an `unsaved()` batch) as in the database, and returns the ids among them
   * that got feedback after it was taken, with that feedback: the write did not carry it.
   */
  markSaved(written: UnsavedPredictions): Array<{ id: string; label: Label; at: number }> {
    this.saved = Math.max(this.saved, written.until);
    const late = [];
    const first = written.until - written.ids.length;
    for (let i = 0; i < written.ids.length; i++) {
      const slot = (first + i) % this.capacity;
      if (this.made[slot] !== first + i + 1 || written.feedbackLabels[i] !== null) continue;
      const label = LABELS[this.feedbackLabel[slot]!];
      if (label) late.push({ id: written.ids[i]!, label, at: this.feedbackAtMs[slot]! });
    }
    return late;
  }

  private slotOf(id: string): number {
    if (id.length !== 36) return -1;
    const slot = Number.parseInt(id.slice(36 - SLOT_HEX), 16);
    if (!Number.isInteger(slot) || slot >= this.capacity || this.made[slot] === 0) return -1;
    return this.idAt(slot) === id.toLowerCase() ? slot : -1;
  }

  private idAt(slot: number): string {
    const atMs = this.atMs[slot]!;
    if (atMs !== this.timeMs) {
      const time = atMs.toString(16).padStart(12, '0');
      this.timeMs = atMs;
      this.timeHex = `${time.slice(0, 8)}-${time.slice(8)}-7`;
    }
    const high = this.randomHigh[slot]!;
    const low = this.randomLow[slot]!;
    const variant = 0x8000 | (high & 0x3fff);
    return (
      this.timeHex +
      HEX1[high >>> 22]! +
      HEX2[(high >>> 14) & 0xff]! +
      '-' +
      HEX2[variant >>> 8]! +
      HEX2[variant & 0xff]! +
      '-' +
      HEX1[low >>> 24]! +
      HEX2[(low >>> 16) & 0xff]! +
      HEX2[(low >>> 8) & 0xff]! +
      HEX2[low & 0xff]! +
      HEX1[slot >>> 16]! +
      HEX2[(slot >>> 8) & 0xff]! +
      HEX2[slot & 0xff]!
    );
  }

  private indexOf(model: string): number {
    let index = this.modelIndex.get(model);
    if (index === undefined) {
      // A gateway serves a handful of models; 65,536 names would be a bug upstream.
      if (this.models.length === 0xffff) throw new Error('RecentPredictions: too many models');
      index = this.models.length;
      this.models.push(model);
      this.modelIndex.set(model, index);
    }
    return index;
  }
}
