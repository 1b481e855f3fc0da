import { z } from 'zod';
import { fnv1a } from '../model/features.js';

export const TOTAL_BASIS_POINTS = 10_000;

/**
 * A model's desired route: how live traffic splits across versions (basis points that
 * sum to 10,000), which version gets a mirrored copy of some requests, and which versions
 * replicas keep loaded. Written with a generation that only grows. Every weight at 0 is a
 * withdrawn route: the model serves nothing (a first release that rolled back).
 */
export const RouteSchema = z
  .object({
    model: z.string().min(1),
    generation: z.number().int().positive(),
    weights: z
      .record(
        z.string().regex(/^[1-9]\d*$/, 'keys must be version numbers'),
        z.number().int().min(0).max(TOTAL_BASIS_POINTS),
      )
      .refine((weights) => Object.keys(weights).length > 0, 'must name at least one version')
      .refine(
        (weights) =>
          [TOTAL_BASIS_POINTS, 0].includes(Object.values(weights).reduce((sum, bp) => sum + bp, 0)),
        `basis points must sum to ${TOTAL_BASIS_POINTS} (or all be 0 to withdraw the model)`,
      ),
    shadow: z
      .object({ version: z.number().int().positive(), percent: z.number().min(0).max(100) })
      .strict()
      .nullable()
      .default(null),
    warm: z.array(z.number().int().positive()).default([]),
    sticky: z.boolean().default(false),
  })
  .strict();
export type Route = z.infer<typeof RouteSchema>;

/** True when the route gives no version any traffic: the model is withdrawn. */
export function isWithdrawn(route: Route): boolean {
  return Object.values(route.weights).every((bp) => bp === 0);
}

/**
 * The versions this route sends anything to: traffic (weight above 0) or shadow copies. A
 * replica is ready when each of these has loaded and verified; a warm version, or one left at
 * weight 0 after a rollback, is loaded and reported but never holds readiness back.
 */
export function servedVersionsOf(route: Route): number[] {
  const versions = new Set<number>();
  for (const [version, bp] of Object.entries(route.weights))
    if (bp > 0) versions.add(Number(version));
  if (route.shadow && route.shadow.percent > 0) versions.add(route.shadow.version);
  return [...versions].sort((a, b) => a - b);
}

/** Every version a replica must load for this route: weighted, shadow and warm ones. */
export function versionsOf(route: Route): number[] {
  const versions = new Set<number>(Object.keys(route.weights).map(Number));
  if (route.shadow) versions.add(route.shadow.version);
  for (const version of route.warm) versions.add(version);
  return [...versions].sort((a, b) => a - b);
}

/**
 * A route's split over the versions that can answer, worked out once per change of route,
 * readiness or fault, so that picking on the request path is a walk over a short array.
 * `entries` are the weighted versions that are ready, by version number, each with what
 * `ready` returned for it.
 */
export interface WeightedSplit<T> {
  entries: T[];
  /** Running totals of basis points: entries[i] takes draws below cumulative[i] / total. */
  cumulative: number[];
  total: number;
}

/**
 * The split of `route` over the versions for which `ready` gives a value (a loaded
 * runtime, say); weights of versions that are not ready are left out and the rest rescaled.
 */
export function splitOf<T>(route: Route, ready: (version: number) => T | null): WeightedSplit<T> {
  const versions = Object.entries(route.weights)
    .map(([version, bp]) => ({ version: Number(version), bp }))
    .filter((entry) => entry.bp > 0)
    .sort((a, b) => a.version - b.version);
  const split: WeightedSplit<T> = { entries: [], cumulative: [], total: 0 };
  for (const { version, bp } of versions) {
    const value = ready(version);
    if (value === null) continue;
    split.total += bp;
    split.entries.push(value);
    split.cumulative.push(split.total);
  }
  return split;
}

/**
 * The entry that answers a request. `draw` is in [0, 1): a random number, or a hash of the
 * sticky key and route generation so one key keeps its version within a generation. Null
 * when no weighted version is ready.
 */
export function pickFrom<T>(split: WeightedSplit<T>, draw: number): T | null {
  if (split.total === 0) return null;
  const point = draw * split.total;
  for (let i = 0; i < split.entries.length; i++) {
    if (point < split.cumulative[i]!) return split.entries[i]!;
  }
  return split.entries[split.entries.length - 1]!;
}

/** The version of `route` that answers `draw`, among the `ready` ones (splitOf, then pickFrom). */
export function pickVersion(
  route: Route,
  draw: number,
  ready: (version: number) => boolean,
): number | null {
  return pickFrom(
    splitOf(route, (version) => (ready(version) ? version : null)),
    draw,
  );
}

/** A stable draw in [0, 1) for a sticky key within one route generation. */
export function stickyDraw(key: string, generation: number): number {
  return fnv1a(`${generation}:${key}`) / 4294967296;
}
