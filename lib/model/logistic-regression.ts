import type { EmailFeatures } from '../corpus/email-row.js';
import { featurize, TOKENIZER_VERSION, type SparseVector } from './features.js';
import type { LogisticRegressionParams } from './params.js';
import { seededRandom, shuffledIndices } from './random.js';

export { LogisticRegressionParamsSchema, type LogisticRegressionParams } from './params.js';

export const MODEL_FORMAT = 'mlops-logistic-regression/1';

/** Trained weights and what is needed to apply them the same way they were trained. */
export interface LinearModel {
  format: typeof MODEL_FORMAT;
  tokenizer: string;
  params: LogisticRegressionParams;
  seed: number;
  trainedRows: number;
  bias: number;
  weights: Float32Array;
}

/** Where an interrupted training run resumes: the state after `epochsDone` full epochs. */
export interface TrainingCheckpoint {
  epochsDone: number;
  steps: number;
  bias: number;
  weights: Float64Array;
}

export interface TrainingExample {
  features: EmailFeatures;
  spam: boolean;
}

export interface TrainOptions {
  resumeFrom?: TrainingCheckpoint;
  /** Called between chunks of work with progress in [0, 1]; awaiting it yields to I/O. */
  onProgress?: (progress: { epoch: number; epochs: number; fraction: number }) => Promise<void>;
  /** Called after each finished epoch; a caller persists it to resume from after a crash. */
  onEpoch?: (checkpoint: TrainingCheckpoint) => Promise<void>;
}

const PROGRESS_EVERY = 512;

/**
 * Logistic regression by stochastic gradient descent on hashed word features. The seed
 * fixes the example order of every epoch (seed + epoch), so a run resumed from a
 * checkpoint ends with the very same weights as one that never stopped.
 */
export async function trainLogisticRegression(
  examples: readonly TrainingExample[],
  params: LogisticRegressionParams,
  seed: number,
  options: TrainOptions = {},
): Promise<LinearModel> {
  const vectors = examples.map((example) => featurize(example.features, params.hashBits));
  const weights = options.resumeFrom
    ? Float64Array.from(options.resumeFrom.weights)
    : new Float64Array(1 << params.hashBits);
  let bias = options.resumeFrom?.bias ?? 0;
  let steps = options.resumeFrom?.steps ?? 0;

  for (let epoch = options.resumeFrom?.epochsDone ?? 0; epoch < params.epochs; epoch++) {
    const order = shuffledIndices(vectors.length, seededRandom(seed * 1_000_003 + epoch));
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      const rate = params.learningRate / Math.sqrt(1 + steps / vectors.length);
      const target = examples[i]!.spam ? 1 : 0;
      const weight = examples[i]!.spam ? params.spamWeight : 1;
      const gradient = (sigmoid(score(vectors[i]!, weights, bias)) - target) * weight;
      applyGradient(vectors[i]!, weights, gradient, rate, params.l2);
      bias -= rate * gradient;
      steps += 1;

      if (options.onProgress && k % PROGRESS_EVERY === 0) {
        const fraction = (epoch + k / order.length) / params.epochs;
        await options.onProgress({ epoch, epochs: params.epochs, fraction });
      }
    }
    await options.onEpoch?.({ epochsDone: epoch + 1, steps, bias, weights });
  }

  return {
    format: MODEL_FORMAT,
    tokenizer: TOKENIZER_VERSION,
    params,
    seed,
    trainedRows: examples.length,
    bias,
    weights: Float32Array.from(weights),
  };
}

function applyGradient(
  vector: SparseVector,
  weights: Float64Array,
  gradient: number,
  rate: number,
  l2: number,
): void {
  for (let j = 0; j < vector.indices.length; j++) {
    const index = vector.indices[j]!;
    weights[index] = weights[index]! - rate * (gradient * vector.values[j]! + l2 * weights[index]!);
  }
}

function score(vector: SparseVector, weights: ArrayLike<number>, bias: number): number {
  let total = bias;
  for (let j = 0; j < vector.indices.length; j++) {
    total += weights[vector.indices[j]!]! * vector.values[j]!;
  }
  return total;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Probability that `email` is spam under `model`. */
export function predictSpamProbability(model: LinearModel, email: EmailFeatures): number {
  return sigmoid(score(featurizeFor(model, email), model.weights, model.bias));
}

export interface Classification {
  label: 'spam' | 'ham';
  spamProbability: number;
}

/** The model's answer for `email`: its spam probability and the label its threshold gives. */
export function classify(model: LinearModel, email: EmailFeatures): Classification {
  return classifyVector(model, featurizeFor(model, email));
}

/**
 * Which features a model reads: two models with the same key give the same vector for an
 * e-mail, so one featurized input serves both (a primary and its shadow).
 */
export function featureKey(model: LinearModel): string {
  return `${model.tokenizer}/${model.params.hashBits}`;
}

/** The vector `model` reads for `email`. */
export function featurizeFor(model: LinearModel, email: EmailFeatures): SparseVector {
  return featurize(email, model.params.hashBits);
}

/** The model's answer for an e-mail already featurized for it (see featureKey). */
export function classifyVector(model: LinearModel, vector: SparseVector): Classification {
  const spamProbability = sigmoid(score(vector, model.weights, model.bias));
  return { label: spamProbability >= model.params.threshold ? 'spam' : 'ham', spamProbability };
}

/**
 * Bytes of a model: `MLOPSLR1`, a 4-byte header length, the header as JSON with a fixed
 * key order, then the weights as little-endian float32. Same model, same bytes.
 */
export function encodeModel(model: LinearModel): Buffer {
  const header = Buffer.from(
    JSON.stringify({
      format: model.format,
      tokenizer: model.tokenizer,
      params: model.params,
      seed: model.seed,
      trainedRows: model.trainedRows,
      bias: model.bias,
      weightCount: model.weights.length,
    }),
    'utf8',
  );
  const weights = Buffer.alloc(model.weights.length * 4);
  for (let i = 0; i < model.weights.length; i++) weights.writeFloatLE(model.weights[i]!, i * 4);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  return Buffer.concat([Buffer.from(MAGIC, 'ascii'), length, header, weights]);
}

const MAGIC = 'MLOPSLR1';

/** Parses bytes written by encodeModel; throws a plain Error naming what is wrong. */
export function decodeModel(bytes: Buffer): LinearModel {
  if (bytes.length < 12 || bytes.subarray(0, 8).toString('ascii') !== MAGIC) {
    throw new Error(`model file: must start with ${MAGIC}; this is not a model of this format`);
  }
  const headerLength = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8')) as Omit<
    LinearModel,
    'weights'
  > & { weightCount: number };
  const offset = 12 + headerLength;
  if (bytes.length !== offset + header.weightCount * 4) {
    throw new Error(
      `model file: expected ${header.weightCount} weights (${offset + header.weightCount * 4} bytes), found ${bytes.length} bytes`,
    );
  }
  const weights = new Float32Array(header.weightCount);
  for (let i = 0; i < weights.length; i++) weights[i] = bytes.readFloatLE(offset + i * 4);
  return {
    format: header.format,
    tokenizer: header.tokenizer,
    params: header.params,
    seed: header.seed,
    trainedRows: header.trainedRows,
    bias: header.bias,
    weights,
  };
}

/** A checkpoint's bytes: JSON header line, then float64 weights. */
export function encodeCheckpoint(checkpoint: TrainingCheckpoint): Buffer {
  const header = Buffer.from(
    `${JSON.stringify({ epochsDone: checkpoint.epochsDone, steps: checkpoint.steps, bias: checkpoint.bias })}\n`,
  );
  return Buffer.concat([header, Buffer.from(checkpoint.weights.buffer.slice(0))]);
}

export function decodeCheckpoint(bytes: Buffer): TrainingCheckpoint {
  const newline = bytes.indexOf(10);
  const header = JSON.parse(bytes.subarray(0, newline).toString('utf8')) as Omit<
    TrainingCheckpoint,
    'weights'
  >;
  const body = bytes.subarray(newline + 1);
  const weights = new Float64Array(body.length / 8);
  for (let i = 0; i < weights.length; i++) weights[i] = body.readDoubleLE(i * 8);
  return { ...header, weights };
}
