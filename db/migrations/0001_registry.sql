-- Catalog, snapshots, runs, the model registry with aliases, and the audit log.

CREATE TABLE datasets (
  name            text PRIMARY KEY,
  source          text NOT NULL,
  owner           text NOT NULL,
  description     text NOT NULL DEFAULT '',
  classification  text NOT NULL CHECK (classification IN ('public', 'internal', 'personal', 'restricted')),
  schema          jsonb NOT NULL,
  latest_digest   text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One imported version of a dataset: every row kept, each repair and drop counted.
CREATE TABLE dataset_versions (
  digest        text PRIMARY KEY,
  dataset       text NOT NULL REFERENCES datasets (name),
  uri           text NOT NULL,
  row_count     integer NOT NULL,
  report        jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- The exact rows a run trained and evaluated on.
CREATE TABLE snapshots (
  digest          text PRIMARY KEY,
  dataset         text NOT NULL REFERENCES datasets (name),
  dataset_digest  text NOT NULL REFERENCES dataset_versions (digest),
  uri             text NOT NULL,
  split           jsonb NOT NULL,
  train_rows      integer NOT NULL,
  eval_rows       integer NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE runs (
  id            text PRIMARY KEY,
  model         text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('train', 'reproduce')),
  workflow_id   text NOT NULL,
  status        text NOT NULL CHECK (status IN ('running', 'succeeded', 'rejected', 'failed')),
  spec          jsonb NOT NULL,
  result        jsonb,
  version       integer,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);

CREATE TABLE models (
  name          text PRIMARY KEY,
  owner         text NOT NULL,
  -- The highest version ever allocated; versions are never reused, even after deletion.
  last_version  integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_versions (
  model              text NOT NULL REFERENCES models (name),
  version            integer NOT NULL CHECK (version > 0),
  status             text NOT NULL CHECK (status IN ('registered', 'rejected', 'archived', 'deleted')),
  approved_for       text NOT NULL DEFAULT 'none'
                     CHECK (approved_for IN ('none', 'staging', 'production-canary', 'production')),
  artifact_uri       text NOT NULL,
  artifact_digest    text NOT NULL,
  snapshot_digest    text NOT NULL,
  feature_schema     jsonb NOT NULL,
  evaluation         jsonb NOT NULL,
  gate               jsonb,
  owner              text NOT NULL,
  rollback_version   integer,
  lineage            jsonb NOT NULL,
  run_id             text NOT NULL,
  idempotency_key    text NOT NULL UNIQUE,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE aliases (
  model       text NOT NULL,
  alias       text NOT NULL,
  version     integer NOT NULL,
  updated_by  text NOT NULL,
  reason      text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, alias),
  -- A version an alias points at cannot be removed from under it.
  FOREIGN KEY (model, version) REFERENCES model_versions (model, version) ON DELETE RESTRICT
);

CREATE TABLE alias_history (
  id            bigserial PRIMARY KEY,
  model         text NOT NULL,
  alias         text NOT NULL,
  from_version  integer,
  to_version    integer,
  actor         text NOT NULL,
  reason        text NOT NULL,
  at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alias_history_model ON alias_history (model, alias, id);

CREATE TABLE audit_log (
  id               bigserial PRIMARY KEY,
  at               timestamptz NOT NULL DEFAULT now(),
  actor            text NOT NULL,
  channel          text NOT NULL CHECK (channel IN ('workflow', 'cli', 'api', 'slack', 'system')),
  action           text NOT NULL,
  model            text,
  version          integer,
  details          jsonb NOT NULL DEFAULT '{}',
  -- Set when the same logical event may be written twice (an activity retried).
  idempotency_key  text UNIQUE
);
CREATE INDEX audit_log_model ON audit_log (model, id);
