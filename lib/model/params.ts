import { z } from 'zod';

/** Hyperparameters of the built-in trainer. Every field has a default. */
export const LogisticRegressionParamsSchema = z
  .object({
    hashBits: z.number().int().min(10).max(24).default(18),
    epochs: z.number().int().min(1).max(10_000).default(8),
    learningRate: z.number().positive().max(100).default(0.5),
    l2: z.number().min(0).max(1).default(1e-6),
    /** Weight on spam examples relative to ham; above 1 trades precision for recall. */
    spamWeight: z.number().positive().max(100).default(0.5),
    threshold: z.number().gt(0).lt(1).default(0.5),
  })
  .strict();
export type LogisticRegressionParams = z.infer<typeof LogisticRegressionParamsSchema>;
