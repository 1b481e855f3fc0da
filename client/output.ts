import type { ModelVersionRecord } from '../lib/registry/types.js';
import type { AuditRow } from '../lib/registry/audit.js';

const metric = (value: unknown): string => (typeof value === 'number' ? value.toFixed(4) : '-');

/** A version's registry record as a person reads it. */
export function printRecord(record: ModelVersionRecord, uiUrl: string): void {
  const evaluation = record.evaluation as Record<string, unknown>;
  const lines = [
    `${record.model} v${record.version}  status=${record.status}  approved_for=${record.approvedFor}${record.aliases.length ? `  aliases=${record.aliases.join(',')}` : ''}`,
    `  owner            ${record.owner}`,
    `  artifact         ${record.artifactUri}`,
    `  digest           ${record.artifactDigest}`,
    `  snapshot         ${record.snapshotDigest}`,
    `  evaluation       accuracy=${metric(evaluation.accuracy)} precision=${metric(evaluation.precision)} recall=${metric(evaluation.recall)} f1=${metric(evaluation.f1)} roc_auc=${metric(evaluation.rocAuc)}`,
    `  latency          mean=${metric(evaluation.latencyMeanMs)}ms p99=${metric(evaluation.latencyP99Ms)}ms  size=${String(evaluation.modelSizeBytes ?? '-')} bytes`,
    `  gate             ${record.gate ? (record.gate.passed ? 'passed' : `rejected: ${(record.gate.reasons as string[]).join('; ')}`) : 'not decided'}${((record.gate?.notes as string[] | undefined) ?? []).map((note) => `\n                   note: ${note}`).join('')}`,
    `  rollback to      ${record.rollbackVersion === null ? '-' : `v${record.rollbackVersion}`}`,
    `  lineage          run=${record.lineage.runId} seed=${record.lineage.seed} trainer=${record.lineage.trainer} code=${record.lineage.codeRevision}`,
    `                   dataset=${record.lineage.datasetDigest}`,
    `                   lock=${record.lineage.dependencyLockDigest}`,
    `  temporal         ${uiUrl}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function printVersionTable(versions: ModelVersionRecord[]): void {
  for (const v of versions) {
    const evaluation = v.evaluation as Record<string, unknown>;
    process.stdout.write(
      `v${v.version}\t${v.status}\t${v.approvedFor}\taccuracy=${metric(evaluation.accuracy)}\tf1=${metric(evaluation.f1)}\t${v.aliases.join(',')}\n`,
    );
  }
}

/**
 * Audit rows as a person reads them: when, who (and their Slack id), through which
 * channel, what, the result, and why.
 */
export function printAudit(entries: AuditRow[]): void {
  for (const entry of entries) {
    const details = entry.details as Record<string, unknown>;
    // A Slack id names the actor only on Slack decisions; on identity changes it is the target's.
    const slack =
      entry.channel === 'slack' && typeof details.slackUserId === 'string'
        ? ` (slack ${details.slackUserId})`
        : '';
    const targetOf = details.name ?? details.identity ?? details.id;
    const target = entry.model === null && typeof targetOf === 'string' ? ` ${targetOf}` : '';
    const version = entry.version === null ? '' : ` v${entry.version}`;
    const result = typeof details.result === 'string' ? ` ${details.result}` : '';
    const why =
      typeof details.reason === 'string'
        ? `  why: ${details.reason}`
        : typeof details.details === 'string'
          ? `  ${details.details}`
          : '';
    const message =
      typeof details.message === 'string' && details.result === 'refused'
        ? `  (${details.message})`
        : '';
    process.stdout.write(
      `${entry.at}  ${entry.actor}${slack}  ${entry.channel}  ${entry.action}${target}${version}${result}${why}${message}\n`,
    );
  }
}
