import type { EmailFeatures } from '../corpus/email-row.js';

/** A sparse feature vector: parallel arrays of bucket index and value, indices ascending. */
export interface SparseVector {
  indices: Uint32Array;
  values: Float32Array;
}

export const TOKENIZER_VERSION = 'email-words-v2';

const WORD = /[a-z0-9$€£!'][a-z0-9$€£!'._-]{1,29}/g;

/**
 * Hashes the words of subject and body into `2^hashBits` buckets with sublinear term
 * frequency (1 + ln tf), scaled to unit length. Subject words get their own namespace,
 * so "free" in a subject differs from "free" in a body. The sender's address and domain
 * add one unscaled feature each: a known sender is strong evidence however long the text.
 */
export function featurize(email: EmailFeatures, hashBits: number): SparseVector {
  const mask = (1 << hashBits) - 1;
  const counts = new Map<number, number>();
  for (const word of words(email.subject)) increment(counts, fnv1a(`s:${word}`) & mask);
  for (const word of words(email.body)) increment(counts, fnv1a(word) & mask);

  let norm = 0;
  for (const [bucket, count] of counts) {
    const value = 1 + Math.log(count);
    counts.set(bucket, value);
    norm += value * value;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (const [bucket, value] of counts) counts.set(bucket, value * scale);

  const sender = email.from.toLowerCase().trim();
  const domain = sender.split('@')[1];
  if (sender) increment(counts, fnv1a(`f:${sender}`) & mask);
  if (domain) increment(counts, fnv1a(`d:${domain}`) & mask);

  const indices = Uint32Array.from([...counts.keys()].sort((a, b) => a - b));
  const values = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) values[i] = counts.get(indices[i]!)!;
  return { indices, values };
}

function increment(counts: Map<number, number>, bucket: number): void {
  counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
}

function words(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/** 32-bit FNV-1a over UTF-16 code units: fast, stable across platforms and releases. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
