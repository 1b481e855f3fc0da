import { createHash } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../api/server.js';
import { identityWithToken, injectAs } from '../helpers/access.js';
import type { Db } from '../../lib/db/db.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { aliasHistory, setAlias } from '../../lib/registry/aliases.js';
import type { Actor, Lineage } from '../../lib/registry/types.js';
import {
  getVersion,
  listVersions,
  recordGate,
  registerVersion,
  resolveVersion,
  retireVersion,
  setApproval,
  type RegisterVersionInput,
} from '../../lib/registry/versions.js';
import { freshDatabase, uniqueName } from '../helpers/env.js';

const sha256 = (text: string): string =>
  `sha256:${createHash('sha256').update(text).digest('hex')}`;

const PIPELINE: Actor = { actor: 'training-pipeline', channel: 'workflow' };

/** A complete, valid registration whose run id, artifact and key all derive from `tag`. */
function registration(model: string, tag: string): RegisterVersionInput {
  const runId = `run-${tag}`;
  const lineage: Lineage = {
    codeRevision: 'abc123',
    trainer: 'builtin:logistic-regression',
    parameters: { epochs: 4, hashBits: 16 },
    seed: 7,
    datasetDigest: sha256('dataset'),
    snapshotDigest: sha256('snapshot'),
    dependencyLockDigest: sha256('package-lock.json'),
    parentRunId: null,
    runId,
    workflowId: `train/${model}/${runId}`,
  };
  const artifactDigest = sha256(`artifact-${tag}`);
  return {
    model,
    owner: 'test-suite',
    artifactUri: `file:///artifacts/${artifactDigest}`,
    artifactDigest,
    snapshotDigest: lineage.snapshotDigest,
    featureSchema: { text: 'string' },
    evaluation: { accuracy: 0.93 },
    lineage,
    idempotencyKey: `register/${model}/${tag}`,
  };
}

/** Registers `count` versions one after another, so they are numbered 1..count. */
async function registerSeveral(db: Db, model: string, count: number): Promise<void> {
  for (let index = 1; index <= count; index += 1) {
    await registerVersion(db, registration(model, `seq-${index}`), PIPELINE);
  }
}

async function auditActions(db: Db, model: string): Promise<string[]> {
  const { rows } = await db.query<{ action: string }>(
    'SELECT action FROM audit_log WHERE model = $1 ORDER BY id',
    [model],
  );
  return rows.map((row) => row.action);
}

describe.each(['postgres', 'pglite'] as const)('the registry on %s', (kind) => {
  let db: Db;
  let api: FastifyInstance;
  const tokens: Record<string, string> = {};
  // Every change through the API acts as the identity of its token.
  const inject = (options: InjectOptions & { as?: string }) =>
    injectAs(api, tokens[options.as ?? 'alice']!)(options);

  beforeAll(async () => {
    db = await freshDatabase(kind);
    api = await buildApi({ db, logger: createLogger('silent') });
    for (const name of ['alice', 'bob', 'carol']) tokens[name] = await identityWithToken(db, name);
    tokens.reader = await identityWithToken(db, 'reader', { scopes: ['read'] });
  });
  afterAll(async () => {
    await api?.close();
    await db?.close();
  });

  describe('registration', () => {
    it('gives 50 concurrent registrations of one model versions 1..50, each bound to its own run and artifact', async () => {
      const model = uniqueName('concurrent');
      const inputs = Array.from({ length: 50 }, (_, index) => registration(model, `c${index}`));

      const results = await Promise.all(
        inputs.map((input) => registerVersion(db, input, PIPELINE)),
      );

      const numbers = results.map((result) => result.version).sort((a, b) => a - b);
      expect(numbers).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
      expect(results.every((result) => result.created)).toBe(true);

      // Each caller's number must hold that caller's run and bytes, not a neighbour's.
      for (const [index, result] of results.entries()) {
        const record = await getVersion(db, model, result.version);
        expect(record.runId).toBe(inputs[index]!.lineage.runId);
        expect(record.lineage.runId).toBe(inputs[index]!.lineage.runId);
        expect(record.artifactDigest).toBe(inputs[index]!.artifactDigest);
        expect(record.status).toBe('registered');
      }
      expect(await auditActions(db, model)).toEqual(Array(50).fill('version.registered'));
    });

    it('returns the version it gave the first time when a registration is retried with the same key', async () => {
      const model = uniqueName('retry');
      const input = registration(model, 'once');

      const first = await registerVersion(db, input, PIPELINE);
      const retry = await registerVersion(db, input, PIPELINE);
      const other = await registerVersion(db, registration(model, 'other'), PIPELINE);

      expect(first).toEqual({ version: 1, created: true });
      expect(retry).toEqual({ version: 1, created: false });
      expect(other).toEqual({ version: 2, created: true });
      expect(await auditActions(db, model)).toEqual(['version.registered', 'version.registered']);
    });

    it('gives racing registrations with the same key one version, created by exactly one of them', async () => {
      const model = uniqueName('race');
      const input = registration(model, 'raced');

      const results = await Promise.all(
        Array.from({ length: 5 }, () => registerVersion(db, input, PIPELINE)),
      );

      expect(new Set(results.map((result) => result.version))).toEqual(new Set([1]));
      expect(results.filter((result) => result.created)).toHaveLength(1);
      const { rows } = await db.query<{ count: number }>(
        'SELECT count(*)::int AS count FROM model_versions WHERE model = $1',
        [model],
      );
      expect(rows[0]!.count).toBe(1);
      expect(await auditActions(db, model)).toEqual(['version.registered']);
    });
  });

  describe('lineage', () => {
    const lineageOf = (input: RegisterVersionInput) => input.lineage as Record<string, unknown>;
    const refusals: Array<[string, (input: RegisterVersionInput) => void, RegExp]> = [
      ['a negative seed', (i) => void (lineageOf(i).seed = -1), /seed: must be a known/],
      ['a missing seed', (i) => void delete lineageOf(i).seed, /seed: /],
      ['a seed given as text', (i) => void (lineageOf(i).seed = '7'), /seed: /],
      [
        'a missing dependency lock digest',
        (i) => void delete lineageOf(i).dependencyLockDigest,
        /dependencyLockDigest: /,
      ],
      [
        'a truncated dependency lock digest',
        (i) => void (lineageOf(i).dependencyLockDigest = 'sha256:abc'),
        /dependencyLockDigest: must be the sha256 digest of the dependency lock file/,
      ],
      [
        'a dependency lock digest of another algorithm',
        (i) => void (lineageOf(i).dependencyLockDigest = `md5:${'0'.repeat(32)}`),
        /dependencyLockDigest: must be the sha256 digest/,
      ],
    ];

    it.each(refusals)(
      'refuses a registration with %s, naming the field',
      async (_, spoil, rule) => {
        const model = uniqueName('lineage');
        const input = registration(model, 'bad');
        spoil(input);

        const attempt = registerVersion(db, input, PIPELINE);

        await expect(attempt).rejects.toThrow(InvalidInputError);
        await expect(attempt).rejects.toThrow(rule);
        // Refused before anything was written: the key is still free for a corrected retry.
        const fixed = await registerVersion(db, registration(model, 'bad'), PIPELINE);
        expect(fixed).toEqual({ version: 1, created: true });
      },
    );
  });

  describe('deleting a version an alias points at', () => {
    const remover = { actor: 'alice', channel: 'api' as const, reason: 'superseded' };
    const deleteBody = { reason: 'superseded' };

    it('refuses while production points at it, then deletes once the alias moved, never reusing the number', async () => {
      const model = uniqueName('retire');
      await registerSeveral(db, model, 3);
      await setAlias(
        db,
        { model, alias: 'production', version: 3 },
        { ...remover, reason: 'ship' },
      );

      await expect(retireVersion(db, model, 3, 'deleted', remover)).rejects.toThrow(ConflictError);
      await expect(retireVersion(db, model, 3, 'deleted', remover)).rejects.toThrow(
        /alias production points at it/,
      );
      await expect(retireVersion(db, model, 3, 'archived', remover)).rejects.toThrow(
        /alias production points at it/,
      );
      // Callers handing over JSON may pass "3"; it must not slip past the number check.
      await expect(
        retireVersion(db, model, '3' as unknown as number, 'deleted', remover),
      ).rejects.toThrow(/version: must be a positive integer \(got "3"\)/);

      const byPath = await inject({
        method: 'DELETE',
        url: `/v1/models/${model}/versions/3`,
        payload: deleteBody,
      });
      expect(byPath.statusCode).toBe(409);
      expect(byPath.json().error.message).toMatch(/alias production points at it/);
      const archive = await inject({
        method: 'DELETE',
        url: `/v1/models/${model}/versions/3`,
        payload: { ...deleteBody, archive: true },
      });
      expect(archive.statusCode).toBe(409);
      expect((await resolveVersion(db, model, 'production')).version).toBe(3);

      await setAlias(
        db,
        { model, alias: 'production', version: 2 },
        { ...remover, reason: 'back' },
      );
      const deleted = await inject({
        method: 'DELETE',
        url: `/v1/models/${model}/versions/3`,
        payload: deleteBody,
      });

      expect(deleted.statusCode).toBe(200);
      expect(deleted.json()).toEqual({ model, version: 3, status: 'deleted' });
      const { rows } = await db.query<{ actor: string; channel: string; details: unknown }>(
        `SELECT actor, channel, details FROM audit_log
          WHERE model = $1 AND version = 3 AND action = 'version.deleted'`,
        [model],
      );
      expect(rows).toEqual([{ actor: 'alice', channel: 'api', details: { reason: 'superseded' } }]);
      await expect(getVersion(db, model, 3)).rejects.toThrow(NotFoundError);
      expect((await resolveVersion(db, model, 'production')).version).toBe(2);
      const gone = await inject({ method: 'GET', url: `/v1/models/${model}/versions/3` });
      expect(gone.statusCode).toBe(404);

      const next = await registerVersion(db, registration(model, 'after-delete'), PIPELINE);
      expect(next.version).toBe(4);
    });

    it('refuses version references that only look like numbers instead of guessing which version was meant', async () => {
      const model = uniqueName('ref');
      await registerSeveral(db, model, 3);

      // %22 is a double quote: the path segment is "3" with its quotes.
      for (const ref of ['%223%22', '0x3', '3.0', '1e0']) {
        const response = await inject({
          method: 'DELETE',
          url: `/v1/models/${model}/versions/${ref}`,
          payload: deleteBody,
        });
        expect(response.statusCode, ref).toBe(400);
        expect(response.json().error.message, ref).toMatch(/ref: /);
      }

      expect((await listVersions(db, model)).map((record) => record.status)).toEqual([
        'registered',
        'registered',
        'registered',
      ]);
    });

    it('never sets an alias onto a deleted or archived version', async () => {
      const model = uniqueName('tombstone');
      await registerSeveral(db, model, 3);
      await retireVersion(db, model, 2, 'deleted', remover);
      await retireVersion(db, model, 3, 'archived', remover);

      const onto = (version: number) =>
        setAlias(db, { model, alias: 'production', version }, { ...remover, reason: 'try' });

      await expect(onto(2)).rejects.toThrow(NotFoundError);
      await expect(onto(3)).rejects.toThrow(ConflictError);
      await expect(onto(3)).rejects.toThrow(/alias production cannot point at a archived version/);
      const viaApi = await inject({
        method: 'PUT',
        url: `/v1/models/${model}/aliases/production`,
        payload: { version: '3', reason: 'try' },
      });
      expect(viaApi.statusCode).toBe(409);
      expect(await aliasHistory(db, model)).toEqual([]);
      await expect(resolveVersion(db, model, 'production')).rejects.toThrow(NotFoundError);
    });

    it('never leaves an alias on a version deleted at the same moment it was aliased', async () => {
      const model = uniqueName('contend');
      await registerSeveral(db, model, 10);

      // Each pair races; the row lock must make exactly one of them win.
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          Promise.allSettled([
            setAlias(db, { model, alias: `a${index}`, version: index + 1 }, remover),
            retireVersion(db, model, index + 1, 'deleted', remover),
          ]),
        ),
      );

      // The loser must be refused by the registry's rules, not by a deadlock or a crash.
      for (const [aliased, retired] of outcomes) {
        expect([aliased.status, retired.status].sort()).toEqual(['fulfilled', 'rejected']);
        if (aliased.status === 'rejected') expect(aliased.reason).toBeInstanceOf(NotFoundError);
        if (retired.status === 'rejected') expect(retired.reason).toBeInstanceOf(ConflictError);
      }
      const { rows } = await db.query<{ alias: string }>(
        `SELECT a.alias FROM aliases a JOIN model_versions v USING (model, version)
          WHERE a.model = $1 AND v.status <> 'registered'`,
        [model],
      );
      expect(rows).toEqual([]);
    });

    it('resolves an alias to nothing rather than to a version deleted behind the registry’s back', async () => {
      const model = uniqueName('bypass');
      await registerSeveral(db, model, 1);
      await setAlias(db, { model, alias: 'production', version: 1 }, remover);

      await db.query(`UPDATE model_versions SET status = 'deleted' WHERE model = $1`, [model]);

      await expect(resolveVersion(db, model, 'production')).rejects.toThrow(
        `model ${model} has no alias production`,
      );
    });
  });

  describe('a rejected version', () => {
    it('cannot become production and stays listed as rejected with its reasons', async () => {
      const model = uniqueName('rejected');
      await registerSeveral(db, model, 1);
      const reasons = ['accuracy 0.61 is below the minimum 0.8'];
      await recordGate(db, model, 1, { passed: false, reasons }, null, PIPELINE);

      const approver = { actor: 'bob', channel: 'cli' as const, reason: 'looks fine' };
      await expect(
        setAlias(db, { model, alias: 'production', version: 1 }, approver),
      ).rejects.toThrow(/alias production cannot point at a rejected version/);
      await expect(setApproval(db, model, 1, 'production', approver)).rejects.toThrow(
        ConflictError,
      );
      await expect(setApproval(db, model, 1, 'production-canary', approver)).rejects.toThrow(
        /a rejected version cannot be approved for production-canary/,
      );
      const viaApi = await inject({
        method: 'PUT',
        url: `/v1/models/${model}/aliases/production`,
        payload: { version: 1, reason: 'looks fine' },
        as: 'bob',
      });
      expect(viaApi.statusCode).toBe(409);

      const [record] = await listVersions(db, model);
      expect(record).toMatchObject({ version: 1, status: 'rejected', approvedFor: 'none' });
      expect(record!.gate).toMatchObject({ passed: false, reasons });
      expect(record!.aliases).toEqual([]);
      const listed = await inject({ method: 'GET', url: `/v1/models/${model}/versions` });
      expect(listed.json().versions).toMatchObject([{ version: 1, status: 'rejected' }]);
      expect(await auditActions(db, model)).toEqual(['version.registered', 'version.rejected']);
    });
  });

  describe('alias history and audit', () => {
    it('records who moved each alias, from which version to which and why', async () => {
      const model = uniqueName('history');
      await registerSeveral(db, model, 2);

      await setAlias(db, { model, alias: 'candidate', version: 1 }, who('alice', 'first try'));
      await setAlias(db, { model, alias: 'production', version: 1 }, who('bob', 'canary clean'));
      await setAlias(db, { model, alias: 'production', version: 2 }, who('carol', 'better f1'));
      const repeat = await setAlias(
        db,
        { model, alias: 'production', version: 2 },
        who('carol', 'again'),
      );

      expect(repeat).toEqual({ previous: 2, changed: false });
      const history = (await aliasHistory(db, model)).map(({ at: _at, ...move }) => move);
      expect(history).toEqual([
        { alias: 'production', fromVersion: 1, toVersion: 2, actor: 'carol', reason: 'better f1' },
        {
          alias: 'production',
          fromVersion: null,
          toVersion: 1,
          actor: 'bob',
          reason: 'canary clean',
        },
        {
          alias: 'candidate',
          fromVersion: null,
          toVersion: 1,
          actor: 'alice',
          reason: 'first try',
        },
      ]);
      // Moving production remembers where it came from, so a release knows its rollback.
      expect(await getVersion(db, model, 2)).toMatchObject({
        approvedFor: 'production',
        rollbackVersion: 1,
        aliases: ['production'],
      });
    });

    it('writes one audit row for every change and none for a change that changes nothing', async () => {
      const model = uniqueName('audit');
      await registerSeveral(db, model, 2);

      await recordGate(db, model, 2, { passed: true, reasons: [] }, 1, PIPELINE);
      await setAlias(db, { model, alias: 'production', version: 1 }, who('bob', 'first'));
      await setAlias(db, { model, alias: 'production', version: 1 }, who('bob', 'no-op'));
      await setApproval(db, model, 2, 'production-canary', who('carol', 'start canary'));
      await setAlias(db, { model, alias: 'production', version: 2 }, who('carol', 'promote'));
      await retireVersion(db, model, 1, 'archived', who('dave', 'old'));

      const { rows } = await db.query<{
        actor: string;
        channel: string;
        action: string;
        version: number;
        details: Record<string, unknown>;
      }>(
        'SELECT actor, channel, action, version, details FROM audit_log WHERE model = $1 ORDER BY id',
        [model],
      );
      expect(rows.map((row) => [row.action, row.version, row.actor])).toEqual([
        ['version.registered', 1, 'training-pipeline'],
        ['version.registered', 2, 'training-pipeline'],
        ['version.gate_passed', 2, 'training-pipeline'],
        ['alias.moved', 1, 'bob'],
        ['version.approval_changed', 2, 'carol'],
        ['alias.moved', 2, 'carol'],
        ['version.archived', 1, 'dave'],
      ]);
      expect(rows[5]!.details).toEqual({ alias: 'production', from: 1, to: 2, reason: 'promote' });
      expect(rows[4]!.details).toEqual({
        from: 'staging',
        to: 'production-canary',
        reason: 'start canary',
      });
      expect(rows[6]).toMatchObject({ channel: 'cli', details: { reason: 'old' } });
    });
  });

  describe('the HTTP API', () => {
    let model: string;

    beforeAll(async () => {
      model = uniqueName('api');
      await registerSeveral(db, model, 2);
      await setAlias(db, { model, alias: 'production', version: 2 }, who('bob', 'ship v2'));
    });

    it('returns a version by alias and by number', async () => {
      const byAlias = await inject({
        method: 'GET',
        url: `/v1/models/${model}/versions/production`,
      });
      const byNumber = await inject({ method: 'GET', url: `/v1/models/${model}/versions/1` });

      expect(byAlias.statusCode).toBe(200);
      expect(byAlias.json()).toMatchObject({
        model,
        version: 2,
        aliases: ['production'],
        runId: 'run-seq-2',
      });
      expect(byNumber.statusCode).toBe(200);
      expect(byNumber.json()).toMatchObject({ model, version: 1, runId: 'run-seq-1' });
    });

    it('answers 404 with a message naming the model and the missing version or alias', async () => {
      const cases = [
        [`/v1/models/${model}/versions/99`, `model ${model} has no version 99`],
        [`/v1/models/${model}/versions/staging`, `model ${model} has no alias staging`],
        ['/v1/models/no-such-model/versions/1', 'model no-such-model has no version 1'],
      ];

      for (const [url, message] of cases) {
        const response = await inject({ method: 'GET', url: url! });
        expect(response.statusCode, url).toBe(404);
        expect(response.json(), url).toEqual({ error: { type: 'NotFoundError', message } });
      }
    });

    it('answers 400 naming the field when a body is incomplete or malformed', async () => {
      const put = (payload: Record<string, unknown>) =>
        inject({
          method: 'PUT',
          url: `/v1/models/${model}/aliases/production`,
          payload,
          as: 'bob',
        });

      const noReason = await put({ version: 1 });
      const booleanVersion = await put({ version: true, reason: 'oops' });
      const hexVersion = await put({ version: '0x1', reason: 'oops' });
      const claimedActor = await put({ version: 1, actor: 'carol', reason: 'not me' });
      const noToken = await api.inject({
        method: 'DELETE',
        url: `/v1/models/${model}/versions/1`,
        payload: { reason: 'old' },
      });
      const readOnly = await inject({
        method: 'DELETE',
        url: `/v1/models/${model}/versions/1`,
        payload: { reason: 'old' },
        as: 'reader',
      });

      expect(noReason.statusCode).toBe(400);
      expect(noReason.json().error.message).toMatch(/^request body is invalid: reason: /);
      expect(booleanVersion.statusCode).toBe(400);
      expect(booleanVersion.json().error.message).toMatch(/version: .*\(got true\)/);
      expect(hexVersion.statusCode).toBe(400);
      expect(hexVersion.json().error.message).toMatch(/version: /);
      // The actor is the token's identity; a body cannot claim to be someone else.
      expect(claimedActor.statusCode).toBe(400);
      expect(claimedActor.json().error.message).toMatch(/actor/);
      expect(noToken.statusCode).toBe(401);
      expect(noToken.json().error.message).toMatch(/needs an API token/);
      expect(readOnly.statusCode).toBe(403);
      expect(readOnly.json().error.message).toMatch(
        /needs a token with scope admin; the token of reader has read/,
      );
      // None of the refused requests moved anything.
      expect((await resolveVersion(db, model, 'production')).version).toBe(2);
      expect((await getVersion(db, model, 1)).status).toBe('registered');
    });

    it('moves an alias whether the body gives the version as a number or as text', async () => {
      const put = (version: number | string, reason: string) =>
        inject({
          method: 'PUT',
          url: `/v1/models/${model}/aliases/candidate`,
          payload: { version, reason },
          as: 'bob',
        });

      const asText = await put('1', 'text');
      const asNumber = await put(2, 'number');

      expect(asText.statusCode).toBe(200);
      expect(asText.json()).toEqual({
        model,
        alias: 'candidate',
        version: 1,
        previous: null,
        changed: true,
      });
      expect(asNumber.json()).toMatchObject({ version: 2, previous: 1, changed: true });
      expect((await resolveVersion(db, model, 'candidate')).version).toBe(2);
    });
  });
});

function who(actor: string, reason: string): Actor & { reason: string } {
  return { actor, channel: 'cli', reason };
}
