-- The role the application (API, worker, CLI reads) works as (issue #15). Migrations run as the
-- owner; the application's login role is made a member of `sjukfall_app` by the operator
-- (docs/operations.md): `CREATE ROLE sjukfall_api LOGIN PASSWORD '...' IN ROLE sjukfall_app`.
--
-- It may read everything and write the projections; on the record of what happened (events)
-- and of who read it (access_log) it may only add: no UPDATE, DELETE or TRUNCATE, and, not
-- being a superuser or owner, it can neither disable triggers nor set session_replication_role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sjukfall_app') THEN
        CREATE ROLE sjukfall_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END;
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO sjukfall_app', current_database());
END;
$$;
GRANT USAGE ON SCHEMA public TO sjukfall_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO sjukfall_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO sjukfall_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO sjukfall_app;
-- Tables later migrations create (projections) get the same rights.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO sjukfall_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO sjukfall_app;

-- The records: add and read only.
REVOKE UPDATE, DELETE, TRUNCATE ON events, access_log FROM sjukfall_app;
REVOKE ALL ON schema_migrations FROM sjukfall_app;
GRANT SELECT ON schema_migrations TO sjukfall_app;
