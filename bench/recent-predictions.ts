// Remembering the gateway's last predictions by id (lib/serving/recent.ts) against the single
// Map trimmed from its front that it replaced, side by side, each holding CAPACITY: each side
// is filled first, then takes ROUNDS passes of new predictions, each added and then found
// again by id as feedback would; the median pass is printed in ns per prediction, with the
// ratio baseline / ours (above 1 means ours is faster). Figures are for reading, not asserted.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RecentPredictions } from '../lib/serving/recent.js';

const CAPACITY = Number(process.env.BENCH_CAPACITY ?? 131_072);
const PASS = 100_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

interface Prediction {
  id: string;
  model: string;
  version: number;
  label: 'spam' | 'ham';
  at: number;
}
interface Remembering {
  /** Remembers the nth prediction; returns its id. */
  add(n: number): string;
  get(id: string): { id: string } | undefined;
}

/** The baseline: a random id per prediction in one Map of CAPACITY, the oldest deleted first. */
function trimmedMap(): Remembering {
  const map = new Map<string, Prediction>();
  return {
    add(n) {
      const prediction: Prediction = {
        id: randomUUID(),
        model: 'bench',
        version: n % 2,
        label: 'ham',
        at: Date.now(),
      };
      map.set(prediction.id, prediction);
      if (map.size > CAPACITY) map.delete(map.keys().next().value!);
      return prediction.id;
    },
    get: (id) => map.get(id),
  };
}

function ring(): Remembering {
  const recent = new RecentPredictions(CAPACITY);
  return { add: (n) => recent.add('bench', n % 2, 'ham'), get: (id) => recent.get(id) };
}

function nsPerPrediction(side: Remembering): number {
  const pass = (): void => {
    for (let i = 0; i < PASS; i++) {
      const id = side.add(i);
      if (side.get(id)?.id !== id) throw new Error('a prediction just added was not found');
    }
  };
  for (let filled = 0; filled < CAPACITY; filled += PASS) pass();
  const passes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    pass();
    passes.push(((performance.now() - started) * 1e6) / PASS);
  }
  passes.sort((a, b) => a - b);
  return passes[Math.floor(passes.length / 2)]!;
}

const baseline = nsPerPrediction(trimmedMap());
const ours = nsPerPrediction(ring());
console.log(
  `recent predictions, ${CAPACITY} held (median of ${ROUNDS} passes of ${PASS}, each added and found)`,
);
console.log(
  `  one Map trimmed from its front ${baseline.toFixed(0)} ns  slot-named ring ${ours.toFixed(0)} ns  ratio ${(baseline / ours).toFixed(1)}`,
);
