// Featurizing an e-mail, which every scored request does, against the first implementation
// (test/fixtures/reference-features.ts), side by side on the same machine and the same e-mails:
//   - the held-out e-mails the replayer sends, each once per pass (the mean request);
//   - the longest tenth of them (the requests that set the tail).
// Each side runs ROUNDS timed passes after a warm-up; the median pass is printed, with the ratio
// reference / ours (above 1 means ours is faster). Figures are for reading, not asserted.
import { performance } from 'node:perf_hooks';
import { heldOutEmails } from '../client/replay.js';
import type { EmailFeatures } from '../lib/corpus/email-row.js';
import { featurize } from '../lib/model/features.js';
import { referenceFeaturize } from '../test/fixtures/reference-features.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const HASH_BITS = 18;

type Featurizer = (email: EmailFeatures, hashBits: number) => unknown;

/** Median microseconds per e-mail over ROUNDS passes through `emails`. */
function timePerEmail(fn: Featurizer, emails: EmailFeatures[]): number {
  for (const email of emails) fn(email, HASH_BITS); // warm-up
  const passes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (const email of emails) fn(email, HASH_BITS);
    passes.push(((performance.now() - started) * 1000) / emails.length);
  }
  passes.sort((a, b) => a - b);
  return passes[Math.floor(passes.length / 2)]!;
}

async function main(): Promise<void> {
  const emails = await heldOutEmails();
  const byLength = [...emails].sort((a, b) => b.body.length - a.body.length);
  const longest = byLength.slice(0, Math.ceil(emails.length / 10));
  const sets: [string, EmailFeatures[]][] = [
    [`held-out e-mails (${emails.length})`, emails],
    [`longest tenth (${longest.length}, body >= ${longest.at(-1)!.body.length} chars)`, longest],
  ];
  console.log(`featurize, hashBits ${HASH_BITS}, median of ${ROUNDS} passes, µs per e-mail`);
  for (const [label, set] of sets) {
    const reference = timePerEmail(referenceFeaturize, set);
    const ours = timePerEmail(featurize, set);
    console.log(
      `  ${label}: reference ${reference.toFixed(1)}  ours ${ours.toFixed(1)}  ` +
        `ratio ${(reference / ours).toFixed(2)}x`,
    );
  }
}

await main();
