-- Access control: who people are (as the project and as Slack know them), the API tokens
-- they hold (only a hash is stored), who may approve each model's releases, the Slack
-- deliveries already handled (a redelivered click acts once), and the one Slack message
-- each release keeps up to date.

CREATE TABLE identities (
  name           text PRIMARY KEY,
  display_name   text NOT NULL DEFAULT '',
  slack_user_id  text UNIQUE,
  groups         text[] NOT NULL DEFAULT '{}',
  disabled       boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
  id            text PRIMARY KEY,
  identity      text NOT NULL REFERENCES identities (name),
  token_sha256  text NOT NULL UNIQUE,
  scopes        text[] NOT NULL,
  description   text NOT NULL DEFAULT '',
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);

CREATE TABLE model_access (
  model                 text PRIMARY KEY,
  approvers             text[] NOT NULL,
  starter_may_approve   boolean NOT NULL DEFAULT true,
  slack_channel         text,
  updated_by            text NOT NULL,
  updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE slack_deliveries (
  key          text PRIMARY KEY,
  received_at  timestamptz NOT NULL DEFAULT now(),
  outcome      jsonb
);

-- One row per release execution (`<workflow id>#<run id>`: a version released again gets
-- its own message).
CREATE TABLE slack_messages (
  release_run  text PRIMARY KEY,
  channel      text NOT NULL,
  ts           text NOT NULL,
  outcome_ts   text,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
