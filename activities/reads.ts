import { decodeRows, type EmailRow } from '../lib/corpus/email-row.js';
import { decodeSnapshot, type SplitRows } from '../lib/corpus/snapshot.js';
import type { ActivityDeps } from './deps.js';

/** A dataset version's rows, verified against their digest once and then kept decoded. */
export function readDatasetRows(deps: ActivityDeps, digest: string): Promise<EmailRow[]> {
  return deps.decoded.get(digest, async () => decodeRows(await deps.store.get(digest)));
}

/** A snapshot's split rows, verified once and kept decoded for the next activity of the run. */
export function readSnapshot(deps: ActivityDeps, digest: string): Promise<SplitRows> {
  return deps.decoded.get(digest, async () => decodeSnapshot(await deps.store.get(digest)));
}
