import { performance } from 'node:perf_hooks';
import { ApplicationFailure } from '@temporalio/activity';
import { evaluateScores, type EvaluationReport } from '../lib/model/evaluate.js';
import { decodeModel, predictSpamProbability } from '../lib/model/logistic-regression.js';
import type { ActivityDeps } from './deps.js';
import { FailureType, mapFailures } from './failures.js';
import { readSnapshot } from './reads.js';

export function evaluationActivities(deps: ActivityDeps) {
  return {
    /**
     * Scores a built-in model on a snapshot's evaluation rows: quality (spam is the
     * positive class), per-prediction latency and size. Reads only; safe to repeat.
     * The artifact's digest is verified on read, so a corrupt model fails here.
     */
    async evaluateModel(input: {
      artifactDigest: string;
      snapshotDigest: string;
    }): Promise<EvaluationReport> {
      return mapFailures(async () => {
        const bytes = await deps.store.get(input.artifactDigest);
        let model;
        try {
          model = decodeModel(bytes);
        } catch (error) {
          throw ApplicationFailure.create({
            message: `artifact ${input.artifactDigest} cannot be evaluated: ${(error as Error).message}`,
            type: FailureType.InvalidInput,
            nonRetryable: true,
          });
        }
        const { eval: rows } = await readSnapshot(deps, input.snapshotDigest);
        const scored = rows.map((row) => {
          const start = performance.now();
          const probability = predictSpamProbability(model, row);
          return { spam: row.label === 'spam', probability, latencyMs: performance.now() - start };
        });
        return evaluateScores(scored, model.params.threshold, bytes.length);
      });
    },
  };
}
