-- Serving: each model's desired route, what every gateway replica serves, and the
-- per-replica metric windows that releases judge.

-- The desired route of a model. Activities write it with a generation number that only
-- grows, so a repeated or late write can never move traffic backwards.
CREATE TABLE routes (
  model        text PRIMARY KEY,
  generation   bigint NOT NULL CHECK (generation > 0),
  -- {"<version>": basis points}, summing to 10000.
  weights      jsonb NOT NULL,
  -- {"version": n, "percent": p} or null.
  shadow       jsonb,
  -- Versions replicas must load and verify even at weight 0 (a candidate before its canary).
  warm         jsonb NOT NULL DEFAULT '[]',
  sticky       boolean NOT NULL DEFAULT false,
  updated_by   text NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- What each replica reports: the generation it serves and which versions are loaded.
CREATE TABLE gateway_replicas (
  replica_id   text NOT NULL,
  model        text NOT NULL,
  generation   bigint NOT NULL,
  -- {"<version>": {"ready": bool, "error": text|null}}
  versions     jsonb NOT NULL,
  seen_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (replica_id, model)
);

-- One row per replica, model, version and second. Readers SUM across replicas.
CREATE TABLE metric_windows (
  model              text NOT NULL,
  version            integer NOT NULL,
  window_start       timestamptz NOT NULL,
  replica_id         text NOT NULL,
  requests           integer NOT NULL DEFAULT 0,
  errors             integer NOT NULL DEFAULT 0,
  -- Request counts per latency bucket; bounds in seconds are fixed by the gateway.
  latency_buckets    jsonb NOT NULL DEFAULT '[]',
  predicted_spam     integer NOT NULL DEFAULT 0,
  predicted_ham      integer NOT NULL DEFAULT 0,
  feedback_correct   integer NOT NULL DEFAULT 0,
  feedback_incorrect integer NOT NULL DEFAULT 0,
  shadow_agree       integer NOT NULL DEFAULT 0,
  shadow_disagree    integer NOT NULL DEFAULT 0,
  PRIMARY KEY (model, version, window_start, replica_id)
);
CREATE INDEX metric_windows_time ON metric_windows (model, window_start);

-- Which version answered each prediction, so late feedback counts for the right version.
CREATE TABLE predictions (
  id          uuid PRIMARY KEY,
  model       text NOT NULL,
  version     integer NOT NULL,
  label       text NOT NULL CHECK (label IN ('ham', 'spam')),
  at          timestamptz NOT NULL DEFAULT now()
);

-- Rollback drills: added latency and error rate for one version. Off unless a row exists.
CREATE TABLE fault_injections (
  model        text NOT NULL,
  version      integer NOT NULL,
  latency_ms   integer NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
  error_rate   double precision NOT NULL DEFAULT 0 CHECK (error_rate >= 0 AND error_rate <= 1),
  updated_by   text NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, version)
);
