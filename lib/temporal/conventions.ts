import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Names shared by workflows, workers and clients. Pure: safe inside workflow code.
 */
export const TRAINING_TASK_QUEUE = 'mlops-training';

export const MlopsModel = defineSearchAttributeKey('MlopsModel', SearchAttributeType.KEYWORD);
export const MlopsVersion = defineSearchAttributeKey('MlopsVersion', SearchAttributeType.KEYWORD);
export const MlopsStage = defineSearchAttributeKey('MlopsStage', SearchAttributeType.KEYWORD);
export const MlopsOutcome = defineSearchAttributeKey('MlopsOutcome', SearchAttributeType.KEYWORD);

/** The dev server registers these at start: `--search-attribute Name=Keyword` each. */
export const SEARCH_ATTRIBUTE_NAMES = [
  'MlopsModel',
  'MlopsVersion',
  'MlopsStage',
  'MlopsOutcome',
] as const;

export function trainingWorkflowId(model: string, runId: string): string {
  return `train/${model}/${runId}`;
}

/** One release per model version: starting it again returns the running one. */
export function releaseWorkflowId(model: string, version: number): string {
  return `release/${model}/v${version}`;
}

export function reproduceWorkflowId(model: string, version: number, runId: string): string {
  return `reproduce/${model}/v${version}/${runId}`;
}

/** Run ids appear in workflow ids and URLs: letters, digits, dot, dash, underscore. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The Temporal UI page of one workflow execution. */
export function temporalUiLink(
  uiBase: string,
  namespace: string,
  workflowId: string,
  runId?: string,
): string {
  const base = `${uiBase.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
