import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecentPredictions } from '../../lib/serving/recent.js';

const add = (recent: RecentPredictions<{ id: string; n: number }>, n: number) =>
  recent.add((id) => ({ id, n }));

describe('RecentPredictions', () => {
  it('finds each of the last `capacity` predictions by id, and none before them', () => {
    const recent = new RecentPredictions<{ id: string; n: number }>(100);
    const added = Array.from({ length: 1_037 }, (_, n) => add(recent, n));
    for (const prediction of added.slice(-100)) expect(recent.get(prediction.id)).toBe(prediction);
    for (const prediction of added.slice(0, -100))
      expect(recent.get(prediction.id)).toBeUndefined();
  });

  it('gives ids that are distinct RFC 4122 UUIDs, as the feedback API and the predictions table take', () => {
    const recent = new RecentPredictions<{ id: string; n: number }>(8);
    const ids = Array.from({ length: 1_000 }, (_, n) => add(recent, n).id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(z.string().uuid().safeParse(id).success).toBe(true);
  });

  it('does not find an id it never gave, even one naming a slot it holds', () => {
    const recent = new RecentPredictions<{ id: string; n: number }>(16);
    const kept = add(recent, 0);
    const other = new RecentPredictions<{ id: string; n: number }>(16);
    const elsewhere = add(other, 0);
    expect(elsewhere.id.slice(-5)).toBe(kept.id.slice(-5));
    expect(recent.get(elsewhere.id)).toBeUndefined();
    expect(recent.get('00000000-0000-4000-8000-0000000fffff')).toBeUndefined();
  });

  it('refuses a capacity it cannot name in five hex digits, naming the value', () => {
    expect(() => new RecentPredictions(0)).toThrow(
      'RecentPredictions capacity must be an integer from 1 to 1048576, got 0',
    );
    expect(() => new RecentPredictions(2 ** 21)).toThrow('got 2097152');
  });
});
