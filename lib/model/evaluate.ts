/** Quality and speed of a classifier on the evaluation rows of a snapshot. Spam is positive. */
export interface EvaluationReport {
  /** `mlops` when our evaluator scored the rows; `trainer` when an external trainer reported them. */
  evaluatedBy: 'mlops' | 'trainer';
  rows: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  rocAuc: number;
  /** Null when an external trainer reported only summary metrics. */
  confusion: {
    truePositive: number;
    falsePositive: number;
    trueNegative: number;
    falseNegative: number;
  } | null;
  latencyMeanMs: number;
  latencyP99Ms: number;
  modelSizeBytes: number;
}

export interface ScoredRow {
  spam: boolean;
  probability: number;
  latencyMs: number;
}

/** Computes the report from scored rows; `threshold` turns a probability into a verdict. */
export function evaluateScores(
  scored: readonly ScoredRow[],
  threshold: number,
  modelSizeBytes: number,
): EvaluationReport {
  const confusion = { truePositive: 0, falsePositive: 0, trueNegative: 0, falseNegative: 0 };
  for (const row of scored) {
    const predictedSpam = row.probability >= threshold;
    if (predictedSpam && row.spam) confusion.truePositive += 1;
    else if (predictedSpam) confusion.falsePositive += 1;
    else if (row.spam) confusion.falseNegative += 1;
    else confusion.trueNegative += 1;
  }
  const { truePositive: tp, falsePositive: fp, falseNegative: fn } = confusion;
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  const latencies = scored.map((row) => row.latencyMs).sort((a, b) => a - b);

  return {
    evaluatedBy: 'mlops',
    rows: scored.length,
    accuracy: scored.length === 0 ? 0 : (tp + confusion.trueNegative) / scored.length,
    precision,
    recall,
    f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    rocAuc: rocAuc(scored),
    confusion,
    latencyMeanMs: latencies.reduce((sum, value) => sum + value, 0) / Math.max(1, latencies.length),
    latencyP99Ms: quantile(latencies, 0.99),
    modelSizeBytes,
  };
}

/** Area under the ROC curve by ranks (Mann-Whitney U), ties averaged; 0.5 when a class is absent. */
export function rocAuc(scored: readonly ScoredRow[]): number {
  const sorted = [...scored].sort((a, b) => a.probability - b.probability);
  const positives = sorted.filter((row) => row.spam).length;
  const negatives = sorted.length - positives;
  if (positives === 0 || negatives === 0) return 0.5;

  let rankSum = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]!.probability === sorted[i]!.probability) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (sorted[k]!.spam) rankSum += averageRank;
    i = j + 1;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Nearest-rank quantile of ascending `sorted`; 0 for an empty list. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}
