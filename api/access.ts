import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  findIdentity,
  IdentityInputSchema,
  listIdentities,
  SlackUserIdSchema,
  upsertIdentity,
} from '../lib/access/identities.js';
import {
  getApprovalPolicy,
  ModelAccessInputSchema,
  setModelAccess,
} from '../lib/access/model-access.js';
import { ApproverEntrySchema, IdentityNameSchema, ScopeSchema } from '../lib/access/scopes.js';
import { InvalidInputError } from '../lib/errors.js';
import { createToken, listTokens, revokeToken } from '../lib/access/tokens.js';
import type { Db } from '../lib/db/db.js';
import { writeAudit } from '../lib/registry/audit.js';
import { parseWith } from '../lib/spec/parse.js';
import { ModelNameSchema } from '../lib/spec/training-spec.js';
import { channelOf, needs, principal } from './auth.js';

const IdentityPatch = z
  .object({
    displayName: z.string().max(200).optional(),
    slackUserId: SlackUserIdSchema.nullable().optional(),
    groups: z.array(IdentityNameSchema).optional(),
    disabled: z.boolean().optional(),
  })
  .strict();

const ModelAccessPatch = z
  .object({
    approvers: z.array(ApproverEntrySchema).min(1, 'must name at least one approver').optional(),
    starterMayApprove: z.boolean().optional(),
    slackChannel: z.string().min(1).nullable().optional(),
  })
  .strict();

const TokenBody = z
  .object({
    identity: IdentityNameSchema,
    scopes: z.array(ScopeSchema).min(1, 'must grant at least one scope'),
    description: z.string().max(200).default(''),
  })
  .strict();

/**
 * Identities, API tokens and who may approve each model: admin only, each change in the
 * audit log. A token is shown once, when created; only its hash is stored.
 */
export function addAccessRoutes(app: FastifyInstance, db: Db): void {
  app.get('/v1/whoami', needs('read'), async (request) => principal(request));

  app.get('/v1/identities', needs('admin'), async () => ({ identities: await listIdentities(db) }));

  // Fields left out keep their values: re-running `identities add` never drops a mapping.
  app.put('/v1/identities/:name', needs('admin'), async (request) => {
    const { name } = parseWith(z.object({ name: IdentityNameSchema }), request.params, 'identity');
    const patch = parseWith(IdentityPatch, request.body ?? {}, 'identity');
    const existing = await findIdentity(db, name);
    const identity = parseWith(
      IdentityInputSchema,
      { ...(existing ?? { name }), ...patch },
      'identity',
    );
    if (identity.disabled && name === principal(request).identity)
      throw new InvalidInputError(
        `disabled: ${name} is the identity this token acts as; disable it with another admin's token, so one admin cannot lock everyone out`,
      );
    await db.transaction(async (tx) => {
      await upsertIdentity(tx, identity);
      await writeAudit(tx, {
        actor: principal(request).identity,
        channel: channelOf(request),
        action: 'identity.set',
        details: { ...identity },
      });
    });
    return identity;
  });

  app.get('/v1/tokens', needs('admin'), async () => ({ tokens: await listTokens(db) }));

  app.post('/v1/tokens', needs('admin'), async (request, reply) => {
    const body = parseWith(TokenBody, request.body ?? {}, 'request body');
    const actor = principal(request).identity;
    const created = await db.transaction(async (tx) => {
      const token = await createToken(tx, { ...body, createdBy: actor });
      await writeAudit(tx, {
        actor,
        channel: channelOf(request),
        action: 'token.create',
        details: { id: token.id, identity: body.identity, scopes: body.scopes },
      });
      return token;
    });
    return reply.status(201).send({ ...created, identity: body.identity, scopes: body.scopes });
  });

  app.delete('/v1/tokens/:id', needs('admin'), async (request) => {
    const { id } = parseWith(z.object({ id: z.string().min(1) }), request.params, 'path');
    await db.transaction(async (tx) => {
      await revokeToken(tx, id);
      await writeAudit(tx, {
        actor: principal(request).identity,
        channel: channelOf(request),
        action: 'token.revoke',
        details: { id },
      });
    });
    return { id, revoked: true };
  });

  app.get('/v1/models/:model/access', needs('read'), async (request) => {
    const { model } = parseWith(z.object({ model: ModelNameSchema }), request.params, 'path');
    return getApprovalPolicy(db, model, null);
  });

  // Fields left out keep their values: narrowing approvers never silently re-allows the starter.
  app.put('/v1/models/:model/access', needs('admin'), async (request) => {
    const { model } = parseWith(z.object({ model: ModelNameSchema }), request.params, 'path');
    const patch = parseWith(ModelAccessPatch, request.body ?? {}, 'access');
    const current = await getApprovalPolicy(db, model, null);
    const access = parseWith(
      ModelAccessInputSchema,
      {
        ...(current.modelApprovers === null
          ? {}
          : {
              approvers: current.modelApprovers,
              starterMayApprove: current.starterMayApprove,
              slackChannel: current.slackChannel,
            }),
        ...patch,
      },
      'access',
    );
    const actor = principal(request).identity;
    await db.transaction(async (tx) => {
      await setModelAccess(tx, model, access, actor);
      await writeAudit(tx, {
        actor,
        channel: channelOf(request),
        action: 'access.set',
        model,
        details: access,
      });
    });
    return { model, ...access };
  });
}
