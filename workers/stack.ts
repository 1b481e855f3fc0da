import fs from 'node:fs';
import path from 'node:path';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
} from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import type { SlackNoticeSettings } from '../activities/notices.js';
import { buildApi } from '../api/server.js';
import { FileArtifactStore } from '../lib/artifacts/store.js';
import type { Config } from '../lib/config.js';
import { openDatabase, type Db } from '../lib/db/db.js';
import { migrate } from '../lib/db/migrate.js';
import { ensureDevToken } from '../lib/access/dev-token.js';
import {
  refuseTakenPorts,
  startTemporalDevServer,
  type TemporalDevServer,
} from '../lib/dev/temporal-server.js';
import type { Logger } from '../lib/logger.js';
import { Gateway } from '../serving/gateway.js';
import { installTemporalRuntime } from './runtime.js';
import { createTrainingWorker } from './training-worker.js';

export interface StackOptions {
  config: Config;
  logger: Logger;
  /** Start `temporal server start-dev` as a child (history in `<dataDir>/temporal/dev.db`). */
  devServer: boolean;
  worker: boolean;
  api: boolean;
  /** The online inference gateway (one replica). */
  gateway?: boolean;
  uiPort?: number;
}

/** One process hosting what `mlops dev`, `mlops worker` and `mlops api` ask for. */
export interface Stack {
  db: Db;
  temporalAddress: string;
  uiUrl: string;
  apiUrl: string | null;
  /** A Temporal client when this process hosts the dev server, a worker or the API, else null. */
  client: Client | null;
  devServer: TemporalDevServer | null;
  worker: Worker | null;
  api: FastifyInstance | null;
  gateway: Gateway | null;
  gatewayUrl: string | null;
  /** Stops in reverse order: API, worker (after its grace time), database, dev server. */
  stop(): Promise<void>;
}

/** Slack notices need a bot token; without one releases send none. */
export function slackNoticeSettings(config: Config): SlackNoticeSettings | null {
  if (!config.MLOPS_SLACK_BOT_TOKEN) return null;
  return {
    botToken: config.MLOPS_SLACK_BOT_TOKEN,
    apiUrl: config.MLOPS_SLACK_API_URL,
    defaultChannel: config.MLOPS_SLACK_CHANNEL ?? null,
  };
}

/**
 * Starts the requested parts in dependency order: dev server, database (migrated),
 * worker, API. When one part fails to start, the parts already started are stopped.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const { config, logger } = options;
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse())
      await stop().catch((error: unknown) => logger.error({ err: error }, 'stop failed'));
  };

  try {
    // Every port is checked before the first part starts, so a taken one leaves nothing behind.
    await refuseTakenPorts([
      ...(options.api
        ? [{ what: 'the API', port: config.MLOPS_API_PORT, setting: 'MLOPS_API_PORT' }]
        : []),
      ...(options.gateway
        ? [{ what: 'the gateway', port: config.MLOPS_GATEWAY_PORT, setting: 'MLOPS_GATEWAY_PORT' }]
        : []),
    ]);
    let devServer: TemporalDevServer | null = null;
    let temporalAddress = config.TEMPORAL_ADDRESS;
    let uiUrl = config.TEMPORAL_UI_URL;
    if (options.devServer) {
      const dir = path.join(config.dataDir, 'temporal');
      fs.mkdirSync(dir, { recursive: true });
      const [host, port] = config.TEMPORAL_ADDRESS.split(':');
      devServer = await startTemporalDevServer({
        dbFile: path.join(dir, 'dev.db'),
        port: host === '127.0.0.1' || host === 'localhost' ? Number(port) : undefined,
        // The UI listens where TEMPORAL_UI_URL says, so links printed and posted reach it.
        uiPort: options.uiPort ?? uiPortOf(config.TEMPORAL_UI_URL),
        logFile: path.join(dir, 'server.log'),
      });
      stops.push(() => devServer!.stop());
      temporalAddress = devServer.address;
      uiUrl = devServer.uiUrl ?? uiUrl;
      logger.info({ address: temporalAddress, uiUrl }, 'temporal dev server started');
    }

    const db = await openDatabase({ url: config.DATABASE_URL, dataDir: config.dataDir });
    stops.push(() => db.close());
    const applied = await migrate(db);
    const store = new FileArtifactStore(config.artifactRoot);
    logger.info({ database: db.kind, applied }, 'database ready');

    // Only the control plane talks to Temporal; a gateway alone must start without it. An
    // API alone connects lazily, so it serves the registry while Temporal is down.
    let client: Client | null = null;
    if (options.devServer || options.worker || options.api) {
      const connection =
        options.devServer || options.worker
          ? await Connection.connect({ address: temporalAddress })
          : Connection.lazy({
              address: temporalAddress,
              connectTimeout: '3s',
              // An API request should fail in seconds, not retry for twenty, when Temporal is down.
              interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 3 }))],
            });
      stops.push(() => connection.close());
      client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    }

    let worker: Worker | null = null;
    if (options.worker) {
      installTemporalRuntime(logger);
      const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
      stops.push(() => nativeConnection.close());
      worker = await createTrainingWorker({
        connection: nativeConnection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.MLOPS_TASK_QUEUE,
        db,
        store,
        logger,
        dataDir: config.dataDir,
        shutdownGraceTime: config.MLOPS_SHUTDOWN_GRACE,
        slack: slackNoticeSettings(config),
        temporalUiUrl: uiUrl,
      });
      const running = worker.run();
      stops.push(async () => {
        // The worker may already be draining (a signal reached it first); ask only once.
        if (worker!.getState() === 'RUNNING') worker!.shutdown();
        await running.catch(() => undefined);
      });
      running.catch((error: unknown) =>
        logger.error({ err: error }, 'worker stopped with an error'),
      );
      logger.info({ taskQueue: config.MLOPS_TASK_QUEUE }, 'worker started');
    }

    let api: FastifyInstance | null = null;
    let apiUrl: string | null = null;
    if (options.api) {
      api = await buildApi({
        db,
        logger,
        adminToken: config.MLOPS_ADMIN_TOKEN,
        temporal: {
          client: client!,
          address: temporalAddress,
          taskQueue: config.MLOPS_TASK_QUEUE,
          namespace: config.TEMPORAL_NAMESPACE,
          uiUrl,
        },
      });
      if (options.devServer) {
        const dev = await ensureDevToken(db, config.dataDir);
        logger.info({ identity: dev.identity, file: dev.file }, 'local developer token ready');
      }
      apiUrl = await api.listen({ host: config.MLOPS_API_HOST, port: config.MLOPS_API_PORT });
      stops.push(() => api!.close());
      logger.info({ apiUrl }, 'api listening');
    }

    let gateway: Gateway | null = null;
    let gatewayUrl: string | null = null;
    if (options.gateway) {
      gateway = new Gateway({ db, store, logger });
      await gateway.start();
      gatewayUrl = await gateway.app.listen({
        host: config.MLOPS_GATEWAY_HOST,
        port: config.MLOPS_GATEWAY_PORT,
      });
      stops.push(() => gateway!.stop());
      logger.info({ gatewayUrl, replicaId: gateway.replicaId }, 'gateway listening');
    }

    return {
      db,
      temporalAddress,
      uiUrl,
      apiUrl,
      client,
      devServer,
      worker,
      api,
      gateway,
      gatewayUrl,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The port of a local UI address (8233 when it names none or is not local). */
function uiPortOf(url: string): number {
  const { hostname, port } = new URL(url);
  const local = hostname === '127.0.0.1' || hostname === 'localhost';
  return local && port ? Number(port) : 8233;
}
