// The shadow worker thread: answers shadow copies with the models the gateway gives it, off
// the gateway's event loop. It holds no state but those models.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';
import { classify, classifyVector, type LinearModel } from '../lib/model/logistic-regression.js';
import type { ShadowAnswers, ShadowBatch } from './shadow-pool.js';

const port = parentPort;
if (!port) throw new Error('shadow-worker runs as a worker thread of the gateway');

// This thread, and only it, runs at the lowest scheduling priority, so that when it and the
// event loop answering primary requests want the same core, the event loop runs first: a
// shadow copy must never delay a primary answer. On Linux nice is per thread and
// /proc/thread-self names this one (a sync call runs on the calling thread); elsewhere the
// thread keeps its priority.
try {
  const threadId = Number(path.basename(fs.readlinkSync('/proc/thread-self')));
  os.setPriority(threadId, os.constants.priority.PRIORITY_LOW);
} catch {
  // Not Linux, or not allowed: shadow copies still run off the event loop.
}

const models = new Map<string, LinearModel>();
port.on('message', (batch: ShadowBatch) => {
  const answers: ShadowAnswers = [];
  for (const message of batch) {
    if (message.type === 'load') {
      models.set(message.digest, message.linear);
      continue;
    }
    const model = models.get(message.digest);
    if (!model)
      answers.push({
        id: message.id,
        error: `model ${message.digest} was not given to this worker`,
      });
    else if ('vector' in message)
      answers.push({ id: message.id, label: classifyVector(model, message.vector).label });
    else answers.push({ id: message.id, label: classify(model, message.email).label });
  }
  port.postMessage(answers);
});
