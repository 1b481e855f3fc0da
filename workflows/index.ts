// The workflow bundle's entry: every workflow a worker registers, one per file.
export { trainingPipelineWorkflow, pipelineStatusQuery } from './training-pipeline.js';
export { reproduceWorkflow } from './reproduce.js';
export { releaseWorkflow } from './release.js';
