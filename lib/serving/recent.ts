import { randomUUID } from 'node:crypto';

const SLOT_HEX = 5;
const MAX_CAPACITY = 16 ** SLOT_HEX;

/**
 * The last `capacity` predictions a replica made, found by id without a hash table: each id
 * names the slot of a ring that holds it in its last five hex digits, so adding is one array
 * store and finding is one array read and a comparison. An id from another replica, or one
 * whose slot has since been reused, is simply not found here.
 *
 * The ids are UUIDs of version 7 (RFC 9562): the first 48 bits are the time in ms, so the
 * predictions table's primary key grows at its right edge instead of taking each row on a
 * random page, which is what PostgreSQL spends least on; 54 bits are random.
 *
 * Why not a Map: one trimmed from its front (`delete(keys().next().value)`) keeps every
 * deleted entry in its table until the table is rebuilt, and `keys()` walks past them from
 * the start, so a full map took tens of µs per insert (npm run bench:recent); even a Map
 * that never deletes took 2 to 3 µs an insert in the gateway's CPU profile at 100,000 ids.
 */
export class RecentPredictions<V extends { id: string }> {
  private readonly ring: Array<V | undefined>;
  private next = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY)
      throw new Error(
        `RecentPredictions capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${capacity}`,
      );
    this.ring = new Array<V | undefined>(capacity);
  }

  /** Makes the next prediction with a new id, made at `atMs`, and keeps it in place of the oldest. */
  add(make: (id: string, atMs: number) => V): V {
    const slot = this.next;
    const atMs = Date.now();
    const time = atMs.toString(16).padStart(12, '0');
    // Random hex from a version 4 UUID: its third group after the version digit, its fourth
    // group whole (the variant digit included), and the start of its fifth.
    const random = randomUUID();
    const id = `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(15, 18)}-${random.slice(19, 23)}-${random.slice(24, 36 - SLOT_HEX)}${slot.toString(16).padStart(SLOT_HEX, '0')}`;
    const value = make(id, atMs);
    this.ring[slot] = value;
    this.next = slot + 1 === this.capacity ? 0 : slot + 1;
    return value;
  }

  get(id: string): V | undefined {
    const slot = Number.parseInt(id.slice(36 - SLOT_HEX), 16);
    const value = Number.isInteger(slot) ? this.ring[slot] : undefined;
    return value?.id === id ? value : undefined;
  }
}
