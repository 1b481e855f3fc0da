import { catalogActivities } from './catalog.js';
import type { ActivityDeps } from './deps.js';
import { evaluationActivities } from './evaluation.js';
import { noticeActivities } from './notices.js';
import { registryActivities } from './registry.js';
import { releaseActivities } from './release.js';
import { trainingActivities } from './training.js';

/** Every activity a worker hosts, bound to that worker's database, store and logger. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...catalogActivities(deps),
    ...trainingActivities(deps),
    ...evaluationActivities(deps),
    ...registryActivities(deps),
    ...releaseActivities(deps),
    ...noticeActivities(deps),
  };
}

/** The activity interface workflows import as a type only. */
export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps } from './deps.js';
