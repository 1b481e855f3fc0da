-- Releases: which release owns each model's route, the route changes it made (so a
-- retried change is not made twice), and one row per release for the API.

CREATE TABLE route_owners (
  model        text PRIMARY KEY,
  release_id   text NOT NULL,
  claimed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE route_changes (
  key          text PRIMARY KEY,
  model        text NOT NULL,
  generation   bigint NOT NULL,
  release_id   text NOT NULL,
  at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE releases (
  id              text PRIMARY KEY,
  model           text NOT NULL,
  version         integer NOT NULL,
  stable_version  integer,
  stage           text NOT NULL,
  outcome         text NOT NULL,
  plan            jsonb NOT NULL,
  summary         jsonb NOT NULL DEFAULT '{}',
  started_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX releases_model ON releases (model, started_at);
