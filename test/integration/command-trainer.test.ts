import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ActivityFailure, ApplicationFailure, type Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraining } from '../../client/train.js';
import { sha256Digest } from '../../lib/artifacts/store.js';
import type { Db } from '../../lib/db/db.js';
import { getRun } from '../../lib/registry/runs.js';
import { getVersion, listVersions } from '../../lib/registry/versions.js';
import { TrainingSpecSchema, type TrainingSpecInput } from '../../lib/spec/training-spec.js';
import {
  freshDatabase,
  scratchDir,
  startTestWorker,
  temporalClient,
  uniqueName,
  type TestWorker,
} from '../helpers/env.js';
import { smallSpec } from '../helpers/specs.js';

/**
 * A trainer in another language, standard library only: it weighs the words that best
 * separate spam from ham in the train rows (log-odds), keeps the strongest `keywords`
 * (ties broken by a shuffle seeded with the run's seed), scores the eval rows by the sum
 * of the weights present, and reports its metrics as the contract's last stdout line.
 */
const KEYWORD_TRAINER = String.raw`
import json, math, random, re, sys

def words(row):
    return set(re.findall(r"[a-z][a-z0-9']{2,20}", (row["subject"] + " " + row["body"]).lower()))

def metrics(scores, labels):
    predicted = [score > 0 for score in scores]
    tp = sum(1 for p, spam in zip(predicted, labels) if p and spam)
    fp = sum(1 for p, spam in zip(predicted, labels) if p and not spam)
    fn = sum(1 for p, spam in zip(predicted, labels) if not p and spam)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    spam_scores = [s for s, spam in zip(scores, labels) if spam]
    ham_scores = [s for s, spam in zip(scores, labels) if not spam]
    pairs = len(spam_scores) * len(ham_scores)
    wins = sum((s > h) + 0.5 * (s == h) for s in spam_scores for h in ham_scores)
    return {
        "accuracy": sum(1 for p, spam in zip(predicted, labels) if p == spam) / len(labels),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "rocAuc": wins / pairs if pairs else 0.5,
    }

request = json.load(sys.stdin)
rows = {"train": [], "eval": []}
with open(request["snapshotPath"], encoding="utf-8") as snapshot:
    for line in snapshot:
        if line.strip():
            row = json.loads(line)
            rows[row["split"]].append(row)

counts = {"spam": {}, "ham": {}}
for row in rows["train"]:
    for word in words(row):
        counts[row["label"]][word] = counts[row["label"]].get(word, 0) + 1
totals = {label: sum(1 for row in rows["train"] if row["label"] == label) for label in counts}
def weight(word):
    spam = (counts["spam"].get(word, 0) + 1) / (totals["spam"] + 2)
    ham = (counts["ham"].get(word, 0) + 1) / (totals["ham"] + 2)
    return math.log(spam / ham)

vocabulary = sorted(set(counts["spam"]) | set(counts["ham"]))
random.Random(request["seed"]).shuffle(vocabulary)
ranked = sorted(vocabulary, key=lambda word: -abs(weight(word)))
keywords = {word: weight(word) for word in ranked[: int(request["params"]["keywords"])]}

scores = [sum(keywords.get(word, 0.0) for word in words(row)) for row in rows["eval"]]
report = metrics(scores, [row["label"] == "spam" for row in rows["eval"]])
model = {"kind": "keyword-scorer", "seed": request["seed"], "params": request["params"],
         "keywords": keywords, "metrics": report}
with open(request["outputDir"] + "/model.json", "w", encoding="utf-8") as out:
    json.dump(model, out, sort_keys=True)
print("trained on %d rows, scored %d" % (len(rows["train"]), len(rows["eval"])))
print(json.dumps({"modelFile": "model.json", "metrics": report}))
`;

/** Records each time it runs, then fails the way a broken trainer does. */
const FAILING_TRAINER = String.raw`
import json, sys
request = json.load(sys.stdin)
with open(request["params"]["runsFile"], "a", encoding="utf-8") as runs:
    runs.write("ran\n")
print("loading snapshot", flush=True)
sys.stderr.write("ValueError: column 'body' has no usable text\n")
sys.exit(1)
`;

describe('command trainer', () => {
  let db: Db;
  let worker: TestWorker;
  let client: Client;
  let dir: string;
  let lockFile: string;

  beforeAll(async () => {
    db = await freshDatabase();
    worker = await startTestWorker({ db });
    client = await temporalClient();
    dir = scratchDir();
    lockFile = path.join(dir, 'requirements.txt');
    fs.writeFileSync(lockFile, '# standard library only\n# python >= 3.8\n');
    fs.writeFileSync(path.join(dir, 'keyword_trainer.py'), KEYWORD_TRAINER);
    fs.writeFileSync(path.join(dir, 'failing_trainer.py'), FAILING_TRAINER);
  });
  afterAll(async () => {
    await worker?.stop();
    await db?.close();
  });

  const start = async (raw: TrainingSpecInput, runId = uniqueName('run')) => {
    const { handle } = await startTraining(client, {
      raw,
      spec: TrainingSpecSchema.parse(raw),
      runId,
      requestedBy: 'test',
      taskQueue: worker.taskQueue,
    });
    return { handle, runId };
  };

  it('registers the model, metrics and lock digest that a Python trainer produces', async () => {
    const model = uniqueName('keywords');
    const script = path.join(dir, 'keyword_trainer.py');
    const params = { keywords: 40 };
    const { handle } = await start(
      smallSpec(model, {
        trainer: { kind: 'command', command: ['python3', script], lockFile, params },
        gate: { minimum: {} },
      }),
    );
    const result = await handle.result();

    // The same script run by hand on the same snapshot: the pipeline must add nothing.
    const byHand = path.join(scratchDir(), 'by-hand');
    fs.mkdirSync(byHand);
    const snapshotPath = await worker.store.localPath(result.snapshot.digest);
    const run = spawnSync('python3', [script], {
      input: JSON.stringify({ snapshotPath, params, seed: 7, outputDir: byHand }),
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    const printed = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      metrics: Record<string, number>;
    };
    const modelFile = fs.readFileSync(path.join(byHand, 'model.json'));

    expect(result.outcome).toBe('accepted');
    const record = await getVersion(db, model, result.version);
    expect(record.lineage.trainer).toBe('command:python3');
    expect(record.lineage.dependencyLockDigest).toBe(sha256Digest(fs.readFileSync(lockFile)));
    expect(record.lineage.parameters).toMatchObject({ keywords: 40, command: ['python3', script] });
    expect(record.lineage.seed).toBe(7);
    expect(record.evaluation).toMatchObject({ ...printed.metrics, rows: result.snapshot.evalRows });
    expect(await worker.store.get(record.artifactDigest)).toEqual(modelFile);
    expect(record.artifactDigest).toBe(sha256Digest(modelFile));
    expect(JSON.parse(modelFile.toString('utf8'))).toMatchObject({ seed: 7, params });
  });

  it('fails the run with TrainerFailed and the trainer stderr, without retrying', async () => {
    const model = uniqueName('broken');
    const runsFile = path.join(scratchDir(), 'runs.txt');
    const { handle, runId } = await start(
      smallSpec(model, {
        trainer: {
          kind: 'command',
          command: ['python3', path.join(dir, 'failing_trainer.py')],
          lockFile,
          params: { runsFile },
        },
      }),
    );
    const failure = await handle.result().catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const activity = (failure as WorkflowFailedError).cause;
    expect(activity).toBeInstanceOf(ActivityFailure);
    expect((activity as ActivityFailure).activityType).toBe('trainModel');
    const cause = (activity as ActivityFailure).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('TrainerFailed');
    expect((cause as ApplicationFailure).nonRetryable).toBe(true);
    expect((cause as ApplicationFailure).message).toMatch(
      /trainer python3 exited with 1: .*ValueError: column 'body' has no usable text/,
    );
    expect(fs.readFileSync(runsFile, 'utf8')).toBe('ran\n');
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.find(
      (event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModel',
    );
    const started = events.find(
      (event) =>
        event.activityTaskStartedEventAttributes &&
        String(event.activityTaskStartedEventAttributes.scheduledEventId) ===
          String(scheduled?.eventId),
    );
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(1);
    expect(await listVersions(db, model)).toEqual([]);
    expect((await getRun(db, runId)).status).toBe('failed');
  });
});
