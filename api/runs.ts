import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Db } from '../lib/db/db.js';
import { writeAudit } from '../lib/registry/audit.js';
import { parseWith } from '../lib/spec/parse.js';
import { TrainingSpecSchema } from '../lib/spec/training-spec.js';
import { RUN_ID_PATTERN, temporalUiLink } from '../lib/temporal/conventions.js';
import { startTraining } from '../lib/temporal/start-training.js';
import { channelOf, needs, principal } from './auth.js';
import type { ReleaseApiOptions } from './releases.js';

const StartRunBody = z
  .object({
    /** The training spec as the person wrote it (parsed YAML); validated here as well. */
    spec: z.unknown(),
    runId: z
      .string()
      .regex(
        RUN_ID_PATTERN,
        'must be 1-100 letters, digits, ".", "-" or "_", starting with a letter or digit',
      ),
  })
  .strict();

/**
 * `POST /v1/runs` (scope train): starts the training pipeline as the token's identity. The
 * same run id with the same spec is the same run (CI retries are safe); with another spec
 * it is refused.
 */
export function addRunRoutes(app: FastifyInstance, db: Db, temporal: ReleaseApiOptions): void {
  app.post('/v1/runs', needs('train'), async (request, reply) => {
    const body = parseWith(StartRunBody, request.body ?? {}, 'request body');
    const spec = parseWith(TrainingSpecSchema, body.spec, 'spec');
    const actor = principal(request).identity;
    const { handle, started } = await startTraining(temporal.client, {
      raw: body.spec,
      spec,
      runId: body.runId,
      requestedBy: actor,
      taskQueue: temporal.taskQueue,
    });
    if (started)
      await writeAudit(db, {
        actor,
        channel: channelOf(request),
        action: 'run.start',
        model: spec.model,
        details: { runId: body.runId, workflowId: handle.workflowId },
      });
    return reply.status(started ? 201 : 200).send({
      workflowId: handle.workflowId,
      runId: body.runId,
      started,
      uiUrl: temporalUiLink(temporal.uiUrl, temporal.namespace, handle.workflowId),
    });
  });
}
