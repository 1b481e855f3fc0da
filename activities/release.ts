import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { setAlias } from '../lib/registry/aliases.js';
import { writeAudit } from '../lib/registry/audit.js';
import { auditEntryOf, type TransitionAudit } from './registry.js';
import { upsertRelease, type ReleaseRow } from '../lib/release/release-store.js';
import { evaluateCheck, type CheckResult, type StatsOrError } from '../lib/release/checks.js';
import type { Check } from '../lib/release/plan.js';
import { versionStats } from '../lib/serving/metric-store.js';
import { liveReplicas, readRoute, writeRoute } from '../lib/serving/route-store.js';
import type { Route } from '../lib/serving/route.js';
import { activityLogFields, type ActivityDeps } from './deps.js';
import { FailureType, mapFailures } from './failures.js';

export interface RouteRequest {
  model: string;
  releaseId: string;
  /** From the workflow and the purpose of the change: a retry reuses the generation. */
  key: string;
  weights: Record<string, number>;
  shadow: { version: number; percent: number } | null;
  warm: number[];
  /** Sticky routing by request key (the plan's `sticky`); absent: as the current route has it. */
  sticky?: boolean;
}

/** How long one read of a version's metric windows may take before its checks are inconclusive. */
export const CHECK_READ_TIMEOUT_MS = 5_000;

export function releaseActivities(deps: ActivityDeps) {
  return {
    /** Claims a model's route for one release; returns the release that owns it now. */
    async claimRoute(input: { model: string; releaseId: string }): Promise<{ owner: string }> {
      return mapFailures(async () => {
        await deps.db.query(
          'INSERT INTO route_owners (model, release_id) VALUES ($1, $2) ON CONFLICT (model) DO NOTHING',
          [input.model, input.releaseId],
        );
        const { rows } = await deps.db.query<{ release_id: string }>(
          'SELECT release_id FROM route_owners WHERE model = $1',
          [input.model],
        );
        return { owner: rows[0]!.release_id };
      });
    },

    /** Gives the route back; only its owner can. Repeating it is harmless. */
    async releaseRoute(input: { model: string; releaseId: string }): Promise<void> {
      await mapFailures(() =>
        deps.db.query('DELETE FROM route_owners WHERE model = $1 AND release_id = $2', [
          input.model,
          input.releaseId,
        ]),
      );
    },

    /**
     * Sets the model's desired route with the next generation. Only the release that owns
     * the route may change it; the same key always yields the same generation, so a retried
     * call changes nothing twice.
     */
    async setRouteWeights(input: RouteRequest): Promise<{ generation: number }> {
      return mapFailures(() =>
        deps.db.transaction(async (tx) => {
          const owner = await tx.query<{ release_id: string }>(
            'SELECT release_id FROM route_owners WHERE model = $1 FOR UPDATE',
            [input.model],
          );
          if (owner.rows[0]?.release_id !== input.releaseId) {
            throw ApplicationFailure.create({
              message: `release ${input.releaseId} does not own the route of ${input.model} (owner: ${owner.rows[0]?.release_id ?? 'none'})`,
              type: FailureType.Conflict,
              nonRetryable: true,
            });
          }
          const done = await tx.query<{ generation: number }>(
            'SELECT generation FROM route_changes WHERE key = $1',
            [input.key],
          );
          if (done.rows[0]) return { generation: Number(done.rows[0].generation) };

          const current = await readRoute(tx, input.model);
          const route: Route = {
            model: input.model,
            generation: (current?.generation ?? 0) + 1,
            weights: input.weights,
            shadow: input.shadow,
            warm: input.warm,
            sticky: input.sticky ?? current?.sticky ?? false,
          };
          await writeRoute(tx, route, input.releaseId);
          await tx.query(
            'INSERT INTO route_changes (key, model, generation, release_id) VALUES ($1, $2, $3, $4)',
            [input.key, input.model, route.generation, input.releaseId],
          );
          deps.logger.info(
            {
              ...activityLogFields(),
              model: input.model,
              generation: route.generation,
              weights: input.weights,
              shadow: input.shadow,
            },
            'route set',
          );
          return { generation: route.generation };
        }),
      );
    },

    /**
     * Reads the route back until every live gateway replica serves `generation` with the
     * listed versions loaded and verified. Fails without retry when a replica cannot load
     * one of them (a corrupt artifact), or when the stored route differs from what was asked.
     */
    async awaitRouteApplied(input: {
      model: string;
      generation: number;
      weights: Record<string, number>;
      ready: number[];
      timeoutMs: number;
    }): Promise<{ replicas: number }> {
      const deadline = Date.now() + input.timeoutMs;
      let lastProblem = 'no gateway replica has reported yet';
      while (Date.now() < deadline) {
        Context.current().heartbeat(lastProblem);
        const stored = await readRoute(deps.db, input.model).catch(() => null);
        // Only the owning release writes the route, one change at a time: a newer generation
        // than the one it just wrote means its write did not land as asked.
        if (stored && stored.generation > input.generation) {
          throw ApplicationFailure.create({
            message: `route ${input.model} is at generation ${stored.generation} (${JSON.stringify(stored.weights)}), past generation ${input.generation} that this change should have written (${JSON.stringify(input.weights)})`,
            type: 'RouteMismatch',
            nonRetryable: true,
          });
        }
        if (
          stored &&
          stored.generation === input.generation &&
          JSON.stringify(sortKeys(stored.weights)) !== JSON.stringify(sortKeys(input.weights))
        ) {
          throw ApplicationFailure.create({
            message: `route ${input.model} generation ${input.generation} reads back as ${JSON.stringify(stored.weights)}, not ${JSON.stringify(input.weights)}`,
            type: 'RouteMismatch',
            nonRetryable: true,
          });
        }
        const replicas = await liveReplicas(deps.db, input.model).catch(() => []);
        for (const replica of replicas) {
          for (const version of input.ready) {
            const state = replica.versions[String(version)];
            if (
              state &&
              !state.ready &&
              state.error &&
              state.error !== 'loading' &&
              state.error !== 'not requested'
            ) {
              throw ApplicationFailure.create({
                message: `gateway replica ${replica.replicaId} cannot load ${input.model} v${version}: ${state.error}`,
                type: 'CandidateLoadFailed',
                nonRetryable: true,
              });
            }
          }
        }
        const behind = replicas.filter(
          (replica) =>
            replica.generation < input.generation ||
            input.ready.some((version) => !replica.versions[String(version)]?.ready),
        );
        if (replicas.length > 0 && behind.length === 0) return { replicas: replicas.length };
        lastProblem =
          replicas.length === 0
            ? 'no live gateway replica'
            : `replicas behind: ${behind.map((replica) => `${replica.replicaId}@${replica.generation}`).join(', ')}`;
        // Two indexed reads a round: reading often is what lets a release move (or roll
        // back) within a gateway poll of the replicas applying the route.
        await sleep(50);
      }
      throw ApplicationFailure.create({
        message: `route ${input.model} generation ${input.generation} not applied within ${input.timeoutMs} ms: ${lastProblem}`,
        type: 'RouteNotApplied',
        nonRetryable: true,
      });
    },

    /**
     * Evaluates checks on the windows in [fromMs, toMs). A metrics source that errors
     * makes the affected checks inconclusive; this activity itself does not fail for it.
     */
    async evaluateChecks(input: {
      model: string;
      candidate: number;
      stable: number | null;
      fromMs: number;
      toMs: number;
      /** The stable version's window when it differs from the candidate's (a 100% step). */
      stableFromMs?: number;
      stableToMs?: number;
      checks: Check[];
    }): Promise<CheckResult[]> {
      const read = async (
        version: number,
        fromMs = input.fromMs,
        toMs = input.toMs,
      ): Promise<StatsOrError> => {
        let timer: NodeJS.Timeout | undefined;
        try {
          // A source that hangs is as unusable as one that errors, and must not hold the round.
          const stats = await Promise.race([
            // The server cancels a read stuck behind a lock, so it gives its connection back.
            deps.db.transaction(async (tx) => {
              await tx.query(`SET LOCAL statement_timeout = ${CHECK_READ_TIMEOUT_MS}`);
              return versionStats(tx, input.model, version, fromMs, toMs);
            }),
            new Promise<never>((_, reject) => {
              timer = setTimeout(
                () =>
                  reject(
                    new Error(`metrics source did not answer within ${CHECK_READ_TIMEOUT_MS} ms`),
                  ),
                CHECK_READ_TIMEOUT_MS,
              );
            }),
          ]);
          return { ok: true, stats };
        } catch (error) {
          return { ok: false, error: (error as Error).message };
        } finally {
          clearTimeout(timer);
        }
      };
      const [candidate, stable] = await Promise.all([
        read(input.candidate),
        input.stable === null
          ? Promise.resolve(null)
          : read(input.stable, input.stableFromMs, input.stableToMs),
      ]);
      return input.checks.map((check) => evaluateCheck(check, candidate, stable));
    },

    /** Points `production` at the candidate; the version it leaves becomes the rollback target. */
    async promoteVersion(input: {
      model: string;
      version: number;
      releaseId: string;
      actor: string;
    }): Promise<{ previous: number | null }> {
      return mapFailures(() =>
        setAlias(
          deps.db,
          { model: input.model, alias: 'production', version: input.version },
          {
            actor: input.actor,
            channel: 'workflow',
            reason: `promoted by release ${input.releaseId}`,
          },
        ),
      );
    },

    /** Points `production` back at `version` after a post-promotion breach. */
    async revertPromotion(input: {
      model: string;
      version: number;
      releaseId: string;
      reason: string;
    }): Promise<void> {
      await mapFailures(() =>
        setAlias(
          deps.db,
          { model: input.model, alias: 'production', version: input.version },
          {
            actor: 'release-controller',
            channel: 'workflow',
            reason: `reverted by release ${input.releaseId}: ${input.reason}`,
          },
        ),
      );
    },

    /** Upserts the release's row (stage, outcome, summary) for the API. */
    async recordRelease(input: ReleaseRow): Promise<void> {
      await mapFailures(() => upsertRelease(deps.db, input));
    },

    /**
     * One transition of a release: its audit row (once per key) and its release row at the
     * new stage, together, so that the list never shows a stage the audit log does not.
     */
    async recordTransition(input: { audit: TransitionAudit; release: ReleaseRow }): Promise<void> {
      await mapFailures(() =>
        deps.db.transaction(async (tx) => {
          await writeAudit(tx, auditEntryOf(input.audit));
          await upsertRelease(tx, input.release);
        }),
      );
    },
  };
}

function sortKeys(record: Record<string, number>): Array<[string, number]> {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}
