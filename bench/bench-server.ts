// One server for bench/gateway.ts, in a process of its own, so that neither side shares an
// event loop, a heap or timers with the other or with the bench:
//
//   tsx bench/bench-server.ts bare <artifact root> <digest>     the runtime in a bare fastify route
//   tsx bench/bench-server.ts gateway <database url> <artifact root>   a gateway replica
//
// Prints one JSON line `{"url": ...}` once it listens, and exits when its stdin closes.
import Fastify from 'fastify';
import { FileArtifactStore } from '../lib/artifacts/store.js';
import type { EmailFeatures } from '../lib/corpus/email-row.js';
import { openPostgres } from '../lib/db/db.js';
import { createLogger } from '../lib/logger.js';
import { classify, decodeModel } from '../lib/model/logistic-regression.js';
import { Gateway } from '../serving/gateway.js';

async function main(): Promise<void> {
  const [kind, first, second] = process.argv.slice(2);
  let url: string;
  let stop: () => Promise<void>;
  if (kind === 'bare' && first && second) {
    const runtime = decodeModel(await new FileArtifactStore(first).get(second));
    const bare = Fastify();
    bare.post('/predict', async (request) => {
      const { input } = request.body as { input: EmailFeatures };
      return classify(runtime, input);
    });
    url = `${await bare.listen({ port: 0, host: '127.0.0.1' })}/predict`;
    stop = () => bare.close();
  } else if (kind === 'gateway' && first && second) {
    const db = openPostgres(first, 4);
    const gateway = new Gateway({
      db,
      store: new FileArtifactStore(second),
      logger: createLogger('silent'),
    });
    await gateway.start();
    url = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    stop = async () => {
      await gateway.stop();
      await db.close();
    };
  } else {
    throw new Error(
      'usage: bench-server bare <artifact root> <digest> | gateway <database url> <artifact root>',
    );
  }

  process.stdout.write(`${JSON.stringify({ url })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void stop().then(() => process.exit(0)));
}

await main();
