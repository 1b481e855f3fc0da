import { z } from 'zod';
import { LogisticRegressionParamsSchema } from '../model/params.js';

/** Model names are URL and workflow-id safe: lower case words joined by dashes. */
export const ModelNameSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/,
    'must be lower-case words joined by "-", like spam-filter',
  )
  .max(63);

/** Metrics a gate can name. Higher is better for all of them. */
export const GateMetricSchema = z.enum(['accuracy', 'precision', 'recall', 'f1', 'rocAuc']);
export type GateMetric = z.infer<typeof GateMetricSchema>;

const unitInterval = z.number().min(0, 'must be >= 0').max(1, 'must be <= 1');

const BuiltinTrainerSchema = z
  .object({
    kind: z.literal('builtin'),
    params: LogisticRegressionParamsSchema.default(LogisticRegressionParamsSchema.parse({})),
  })
  .strict();

/**
 * Any executable that follows the JSON contract: it reads one JSON document on stdin
 * ({snapshotPath, params, seed, outputDir}) and prints one on stdout ({modelFile, metrics}).
 */
const CommandTrainerSchema = z
  .object({
    kind: z.literal('command'),
    command: z.array(z.string().min(1)).min(1, 'must name the program to run'),
    params: z.record(z.string(), z.unknown()).default({}),
    /** A file whose digest pins the trainer's dependencies (requirements.txt, a lock file). */
    lockFile: z.string().min(1),
    timeoutSeconds: z.number().int().positive().max(86_400).default(3600),
  })
  .strict();

export const TrainerSpecSchema = z.discriminatedUnion('kind', [
  BuiltinTrainerSchema,
  CommandTrainerSchema,
]);
export type TrainerSpec = z.infer<typeof TrainerSpecSchema>;

export const SplitSpecSchema = z
  .object({
    /** The newest fraction of rows (by date) held out for evaluation. */
    evalFraction: unitInterval.refine((value) => value > 0 && value < 1, 'must be between 0 and 1'),
    /** The oldest fraction of rows used for training; at most 1 - evalFraction. */
    trainFraction: unitInterval.refine((value) => value > 0, 'must be above 0'),
  })
  .strict()
  .refine((split) => split.trainFraction + split.evalFraction <= 1 + 1e-9, {
    message:
      'trainFraction + evalFraction must be <= 1 (train rows must be older than evaluation rows)',
    path: ['trainFraction'],
  });
export type SplitSpec = z.infer<typeof SplitSpecSchema>;

export const DatasetSpecSchema = z
  .object({
    /** The catalogued source to import; `spam-assassin` is the public SpamAssassin corpus. */
    source: z.enum(['spam-assassin']),
    /** Keep every n-th row so that at most this many remain (for quick runs and tests). */
    maxRows: z.number().int().min(50, 'must be >= 50').optional(),
  })
  .strict();

export const GateSpecSchema = z
  .object({
    /** Each metric must reach at least this value. */
    minimum: z.partialRecord(GateMetricSchema, unitInterval).default({}),
    /** Each metric may fall at most this much below the compared version's value. */
    maxRegression: z.partialRecord(GateMetricSchema, unitInterval).default({}),
    /** The alias whose version the candidate is compared against on the same snapshot. */
    compareTo: z.string().min(1).default('production'),
  })
  .strict();
export type GateSpec = z.infer<typeof GateSpecSchema>;

/** A training spec, as CI writes it in YAML. Unknown fields are refused. */
export const TrainingSpecSchema = z
  .object({
    model: ModelNameSchema,
    owner: z.string().min(1),
    description: z.string().default(''),
    dataset: DatasetSpecSchema,
    split: SplitSpecSchema,
    trainer: TrainerSpecSchema.default({
      kind: 'builtin',
      params: LogisticRegressionParamsSchema.parse({}),
    }),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    gate: GateSpecSchema.default({ minimum: {}, maxRegression: {}, compareTo: 'production' }),
    /** Aliases to point at the new version when it passes its gate. */
    onPass: z
      .object({ aliases: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/)).default([]) })
      .strict()
      .default({ aliases: [] }),
  })
  .strict();
export type TrainingSpec = z.infer<typeof TrainingSpecSchema>;
export type TrainingSpecInput = z.input<typeof TrainingSpecSchema>;
