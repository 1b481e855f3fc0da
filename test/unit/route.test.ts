import { describe, expect, it } from 'vitest';
import { pickFrom, pickVersion, splitOf, stickyDraw, type Route } from '../../lib/serving/route.js';

const route = (weights: Record<string, number>): Route => ({
  model: 'm',
  generation: 3,
  weights,
  shadow: null,
  warm: [],
  sticky: false,
});
/** How `count` evenly spread draws fall over the versions. */
const spread = (picked: (draw: number) => number | null, count = 10_000) => {
  const counts: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const version = String(picked((i + 0.5) / count));
    counts[version] = (counts[version] ?? 0) + 1;
  }
  return counts;
};

describe('route split', () => {
  it('gives each version its share of basis points, and a version at 0 none', () => {
    const split = splitOf(route({ '1': 2_500, '2': 7_500, '3': 0 }), (version) => version);
    expect(split.entries).toEqual([1, 2]);
    expect(spread((draw) => pickFrom(split, draw))).toEqual({ '1': 2_500, '2': 7_500 });
  });

  it('rescales the weights of the versions that are ready and leaves out the rest', () => {
    const ready = (version: number) => version !== 2;
    const counts = spread((draw) =>
      pickVersion(route({ '1': 2_000, '2': 5_000, '3': 3_000 }), draw, ready),
    );
    expect(counts).toEqual({ '1': 4_000, '3': 6_000 });
  });

  it('answers null when no weighted version is ready, or the route is withdrawn', () => {
    expect(pickVersion(route({ '1': 10_000 }), 0.5, () => false)).toBeNull();
    expect(pickVersion(route({ '1': 0 }), 0.5, () => true)).toBeNull();
  });

  it('keeps the answer of a draw at the edge of the last share inside the split', () => {
    const split = splitOf(route({ '4': 10_000 }), (version) => version);
    expect(pickFrom(split, 0.999_999_999)).toBe(4);
    expect(pickFrom(split, 0)).toBe(4);
  });

  it('draws the same for one request key within a generation and may move it in another', () => {
    expect(stickyDraw('user-1', 3)).toBe(stickyDraw('user-1', 3));
    const draws = new Set([1, 2, 3, 4, 5].map((generation) => stickyDraw('user-1', generation)));
    expect(draws.size).toBe(5);
    for (const draw of draws) expect(draw >= 0 && draw < 1).toBe(true);
  });
});
