import type { Command } from 'commander';
import { InvalidInputError } from '../lib/errors.js';
import type { ApiClient } from './api-client.js';

const list = (text: string): string[] =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

function parseBoolean(flag: string, text: string): boolean {
  if (text === 'true' || text === 'yes') return true;
  if (text === 'false' || text === 'no') return false;
  throw new InvalidInputError(`${flag}: must be true or false (got ${JSON.stringify(text)})`);
}

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

/**
 * `mlops whoami | identities | tokens | access`: who is who, the tokens they hold and who
 * may approve each model. Everything but whoami needs an admin token.
 */
export function addAccessCommands(program: Command, api: () => ApiClient): void {
  program
    .command('whoami')
    .description("the identity, groups and scopes of this CLI's token")
    .action(async () => print(await api().get('/v1/whoami')));

  const identities = program.command('identities').description('people and services (admin)');
  identities.command('ls').action(async () => print(await api().get('/v1/identities')));
  identities
    .command('add')
    .description('create an identity, or change the given fields of one (others keep their values)')
    .argument('<name>')
    .option('--slack <member-id>', 'Slack member id (U012AB3CD) acting as it; none to unlink')
    .option('--groups <a,b>', 'groups, for group: entries in approver lists (replaces the list)')
    .option('--display-name <text>', 'a name people recognise')
    .option('--disabled', 'refuse its tokens and Slack actions')
    .option('--enabled', 'accept them again')
    .action(
      async (
        name: string,
        options: {
          slack?: string;
          groups?: string;
          displayName?: string;
          disabled?: boolean;
          enabled?: boolean;
        },
      ) => {
        if (options.disabled && options.enabled)
          throw new InvalidInputError('--disabled and --enabled: give one of them, not both');
        print(
          await api().request('PUT', `/v1/identities/${encodeURIComponent(name)}`, {
            displayName: options.displayName,
            slackUserId:
              options.slack === undefined
                ? undefined
                : options.slack === 'none'
                  ? null
                  : options.slack,
            groups: options.groups === undefined ? undefined : list(options.groups),
            disabled: options.disabled ? true : options.enabled ? false : undefined,
          }),
        );
      },
    );

  const tokens = program.command('tokens').description('API tokens (admin)');
  tokens
    .command('create')
    .description('create a token and print it once; only its hash is stored')
    .argument('<identity>')
    .requiredOption('--scopes <a,b>', 'read, train, release, approve, admin, delegate')
    .option('--description <text>', 'what the token is for', '')
    .action(async (identity: string, options: { scopes: string; description: string }) =>
      print(
        await api().request('POST', '/v1/tokens', {
          identity,
          scopes: list(options.scopes),
          description: options.description,
        }),
      ),
    );
  tokens.command('ls').action(async () => print(await api().get('/v1/tokens')));
  tokens
    .command('revoke')
    .argument('<id>')
    .action(async (id: string) =>
      print(await api().request('DELETE', `/v1/tokens/${encodeURIComponent(id)}`)),
    );

  const access = program.command('access').description('who may approve a model (admin)');
  access
    .command('show')
    .argument('<model>')
    .action(async (model: string) =>
      print(await api().get(`/v1/models/${encodeURIComponent(model)}/access`)),
    );
  access
    .command('set')
    .description(
      "set a model's approvers; plans can name fewer, never others. Options left out keep their values",
    )
    .argument('<model>')
    .option('--approvers <a,group:b>', 'identities and group: entries (required the first time)')
    .option(
      '--starter-may-approve <bool>',
      'may the starter of a release approve it (default true)',
    )
    .option('--slack-channel <channel>', 'where its approval requests go; none for the default')
    .action(
      async (
        model: string,
        options: { approvers?: string; starterMayApprove?: string; slackChannel?: string },
      ) =>
        print(
          await api().request('PUT', `/v1/models/${encodeURIComponent(model)}/access`, {
            approvers: options.approvers === undefined ? undefined : list(options.approvers),
            starterMayApprove:
              options.starterMayApprove === undefined
                ? undefined
                : parseBoolean('--starter-may-approve', options.starterMayApprove),
            slackChannel:
              options.slackChannel === undefined
                ? undefined
                : options.slackChannel === 'none'
                  ? null
                  : options.slackChannel,
          }),
        ),
    );

  const faults = program
    .command('faults')
    .description(
      'rollback drills: injected errors and latency for one version on every replica (admin)',
    );
  const putFault = (
    model: string,
    version: string,
    body: { errorRate: number; latencyMs: number; reason: string },
  ) =>
    api().request(
      'PUT',
      `/v1/admin/faults/${encodeURIComponent(model)}/${encodeURIComponent(version)}`,
      body,
    );
  faults
    .command('set')
    .argument('<model>')
    .argument('<version>')
    .option('--error-rate <0..1>', 'share of its answers that fail', '0')
    .option('--latency-ms <ms>', 'added to each of its answers', '0')
    .requiredOption('--reason <text>', 'why: it goes to the audit log')
    .action(
      async (
        model: string,
        version: string,
        options: { errorRate: string; latencyMs: string; reason: string },
      ) =>
        print(
          await putFault(model, version, {
            errorRate: parseNumber('--error-rate', options.errorRate),
            latencyMs: parseNumber('--latency-ms', options.latencyMs),
            reason: options.reason,
          }),
        ),
    );
  faults
    .command('clear')
    .argument('<model>')
    .argument('<version>')
    .requiredOption('--reason <text>', 'why: it goes to the audit log')
    .action(async (model: string, version: string, options: { reason: string }) =>
      print(await putFault(model, version, { errorRate: 0, latencyMs: 0, reason: options.reason })),
    );
}

function parseNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(value))
    throw new InvalidInputError(`${flag}: must be a number (got ${JSON.stringify(text)})`);
  return value;
}
