import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { importSpamAssassin } from '../../lib/corpus/spam-assassin.js';
import { featurize, type SparseVector } from '../../lib/model/features.js';
import {
  encodeModel,
  LogisticRegressionParamsSchema,
  trainLogisticRegression,
} from '../../lib/model/logistic-regression.js';
import { referenceFeaturize } from '../fixtures/reference-features.js';

/** The vector as text: indices and the float32 bits of each value, so any difference shows. */
function bits(vector: SparseVector): string {
  const values = new Uint32Array(
    vector.values.buffer,
    vector.values.byteOffset,
    vector.values.length,
  );
  return `${vector.indices.join(',')}|${values.join(',')}`;
}

describe('featurize (tokenizer email-words-v2)', () => {
  it('gives every e-mail of the corpus the vector of the reference tokenizer, bit for bit', async () => {
    const { rows } = await importSpamAssassin();
    expect(rows.length).toBeGreaterThan(5000);
    let differing = 0;
    let first = '';
    for (const hashBits of [18, 10]) {
      for (const row of rows) {
        const email = { subject: row.subject, from: row.from, body: row.body };
        if (bits(featurize(email, hashBits)) !== bits(referenceFeaturize(email, hashBits))) {
          differing += 1;
          first ||= `${row.id} at hashBits ${hashBits}`;
        }
      }
    }
    expect({ differing, first }).toEqual({ differing: 0, first: '' });
  });

  it.each([
    ['word edges', "a b cd e. .ef gh- -ij $5 €10 £3 !! 'quoted' x"],
    ['runs longer than a word', `${'a'.repeat(31)} ${'b'.repeat(30)}.${'c'.repeat(61)}`],
    ['a run cut at 30 before punctuation', `${'d'.repeat(30)}._-e ${'f'.repeat(29)}-`],
    ['letters that lowercase to ASCII or change length', 'İSTANBUL KELVIN\u212A Straße ΣΟΦΙΑ'],
    ['other scripts and surrogate pairs', 'naïve café 日本語 😀ok ok😀 a\u0000b'],
    ['a text ending on a start', 'ends with a'],
    ['empty', ''],
  ])('tokenizes %s like the reference', (_, text) => {
    for (const email of [
      { subject: text, from: 'Someone <X@Example.COM>', body: '' },
      { subject: '', from: '', body: text },
      { subject: text, from: 'nobody', body: text.toUpperCase() },
    ]) {
      expect(bits(featurize(email, 12))).toBe(bits(referenceFeaturize(email, 12)));
    }
  });

  it('trains the same model bytes as before the scanner replaced the regular expression', async () => {
    // Digest of this model trained with the reference tokenizer (commit fcf4241): a model
    // retrained from its lineage must match the one registered, whatever version of this code.
    const { rows } = await importSpamAssassin();
    const examples = rows.slice(0, 2000).map((row) => ({
      features: { subject: row.subject, from: row.from, body: row.body },
      spam: row.label === 'spam',
    }));
    const model = await trainLogisticRegression(
      examples,
      LogisticRegressionParamsSchema.parse({}),
      7,
    );
    expect(createHash('sha256').update(encodeModel(model)).digest('hex')).toBe(
      '5a9f42125287b1b9d97a0fc9c1ae764110a47a0a02d0a72a6d95dc4ca14154a5',
    );
  });
});
