import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecentPredictions } from '../../lib/serving/recent.js';

const labelOf = (n: number) => (n % 3 === 0 ? 'spam' : 'ham');
const add = (recent: RecentPredictions, n: number) => recent.add(`model-${n % 2}`, n, labelOf(n));

describe('RecentPredictions', () => {
  it('finds each of the last `capacity` predictions by id, as they were made, and none before them', () => {
    const recent = new RecentPredictions(100);
    const ids = Array.from({ length: 1_037 }, (_, n) => add(recent, n));
    ids.slice(-100).forEach((id, i) => {
      const n = 937 + i;
      expect(recent.get(id)).toMatchObject({
        id,
        model: `model-${n % 2}`,
        version: n,
        label: labelOf(n),
        saved: false,
      });
      expect(recent.get(id)!.feedback).toBeUndefined();
    });
    for (const id of ids.slice(0, -100)) expect(recent.get(id)).toBeUndefined();
  });

  it('gives distinct version 7 UUIDs, as the feedback API and the predictions table take', () => {
    const recent = new RecentPredictions(8);
    const ids = Array.from({ length: 10_000 }, (_, n) => add(recent, n));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(z.uuid({ version: 'v7' }).safeParse(id).success).toBe(true);
  });

  it('gives ids that start with the time they were made, so later ones sort after', async () => {
    const recent = new RecentPredictions(8);
    const first = recent.add('m', 1, 'ham');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = recent.add('m', 1, 'ham');
    const { at } = recent.get(first)!;
    expect(recent.get(later)!.at).toBeGreaterThan(at);
    expect(later > first).toBe(true);
    expect(Number.parseInt(first.slice(0, 8) + first.slice(9, 13), 16)).toBe(at);
  });

  it('does not find an id it never gave, even one naming a slot it holds', () => {
    const recent = new RecentPredictions(16);
    const kept = add(recent, 0);
    const elsewhere = add(new RecentPredictions(16), 0);
    expect(elsewhere.slice(-5)).toBe(kept.slice(-5));
    expect(recent.get(elsewhere)).toBeUndefined();
    expect(recent.get('00000000-0000-4000-8000-0000000fffff')).toBeUndefined();
    expect(recent.get('not an id')).toBeUndefined();
    expect(recent.get(kept.toUpperCase())?.id).toBe(kept);
  });

  it('hands out what is not saved yet, oldest first with its feedback, until it is marked saved', () => {
    const recent = new RecentPredictions(10);
    const ids = Array.from({ length: 4 }, (_, n) => add(recent, n));
    recent.setFeedback(ids[1]!, 'spam', 1234);

    const batch = recent.unsaved();
    expect(batch).toMatchObject({
      ids,
      models: ['model-0', 'model-1', 'model-0', 'model-1'],
      versions: [0, 1, 2, 3],
      labels: ['spam', 'ham', 'ham', 'spam'],
      feedbackLabels: [null, 'spam', null, null],
      feedbackAt: [null, 1234, null, null],
    });
    const more = add(recent, 4);
    // Feedback that came while the batch was being written: the write did not carry it.
    recent.setFeedback(ids[2]!, 'ham', 5678);
    recent.setFeedback(more, 'ham', 9999);

    expect(recent.markSaved(batch)).toEqual([{ id: ids[2], label: 'ham', at: 5678 }]);
    expect(recent.get(ids[0]!)!.saved).toBe(true);
    expect(recent.get(ids[2]!)!.feedback).toEqual({ label: 'ham', at: 5678 });
    expect(recent.get(more)!.saved).toBe(false);
    expect(recent.unsaved()).toMatchObject({ ids: [more], feedbackLabels: ['ham'] });
  });

  it('keeps handing out a batch never marked saved, and only the last `capacity` of it', () => {
    const recent = new RecentPredictions(5);
    const ids = Array.from({ length: 3 }, (_, n) => add(recent, n));
    expect(recent.unsaved().ids).toEqual(ids);
    // A write that failed: nothing is marked, and later predictions join the same batch.
    const later = Array.from({ length: 4 }, (_, n) => add(recent, 3 + n));
    expect(recent.unsaved().ids).toEqual([...ids, ...later].slice(-5));
  });

  it('refuses a capacity it cannot name in five hex digits, naming the value', () => {
    expect(() => new RecentPredictions(0)).toThrow(
      'RecentPredictions capacity must be an integer from 1 to 1048576, got 0',
    );
    expect(() => new RecentPredictions(2 ** 21)).toThrow('got 2097152');
  });
});
