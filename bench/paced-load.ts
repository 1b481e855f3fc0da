// Open-loop load at a steady rate: request i leaves at start + i / rate whatever the answers
// before it did, the way independent clients arrive. autocannon's `-R` sends each second's
// quota in a burst from its connections, which measures queueing in that burst rather than
// the latency a request sees at that rate; and it keeps whole milliseconds.
//
//   tsx bench/paced-load.ts <url> <rate> <seconds> <json body>
//
// Prints one JSON line: requests, errors, achieved rate, p50, p99 and max in milliseconds
// (from the request's send to the end of its answer, measured with performance.now()).
import http from 'node:http';

async function main(): Promise<void> {
  const [url, rateText, secondsText, body] = process.argv.slice(2);
  if (!url || !rateText || !secondsText || body === undefined)
    throw new Error('usage: paced-load <url> <rate> <seconds> <json body>');
  const rate = Number(rateText);
  const total = Math.round(rate * Number(secondsText));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const samplesMs: number[] = [];
  let errors = 0;
  const answers: Array<Promise<void>> = [];

  const send = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      const request = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (response) => {
          response.resume();
          response.on('end', () => {
            if (response.statusCode !== 200) errors += 1;
            samplesMs.push(performance.now() - started);
            resolve();
          });
        },
      );
      request.on('error', () => {
        errors += 1;
        resolve();
      });
      request.end(body);
    });

  const startedAt = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - startedAt) / 1000) * rate) + 1);
      while (sent < due) {
        sent += 1;
        answers.push(send());
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(answers);
  const elapsedSeconds = (performance.now() - startedAt) / 1000;
  agent.destroy();

  const sorted = samplesMs.sort((a, b) => a - b);
  const quantile = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
  process.stdout.write(
    `${JSON.stringify({
      requests: sorted.length,
      errors,
      rate: sorted.length / elapsedSeconds,
      p50Ms: quantile(0.5),
      p99Ms: quantile(0.99),
      maxMs: sorted.at(-1) ?? 0,
    })}\n`,
  );
}

await main();
