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

  it('gives distinct version 7 UUIDs, as the feedback API and the predictions table take', () => {
    const recent = new RecentPredictions<{ id: string; n: number }>(8);
    const ids = Array.from({ length: 1_000 }, (_, n) => add(recent, n).id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(z.uuid({ version: 'v7' }).safeParse(id).success).toBe(true);
  });

  it('gives ids that start with the time they were made, so later ones sort after', async () => {
    const recent = new RecentPredictions<{ id: string; at: number }>(8);
    const first = recent.add((id, at) => ({ id, at }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = recent.add((id, at) => ({ id, at }));
    expect(later.at).toBeGreaterThan(first.at);
    expect(later.id > first.id).toBe(true);
    expect(Number.parseInt(first.id.slice(0, 8) + first.id.slice(9, 13), 16)).toBe(first.at);
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
