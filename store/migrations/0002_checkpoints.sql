-- Catch-up subscriptions: the last global position each projection has applied.
-- A projection writes its rows and this row in the same transaction (exactly-once effect).
CREATE TABLE checkpoints (
    name       text        NOT NULL PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
