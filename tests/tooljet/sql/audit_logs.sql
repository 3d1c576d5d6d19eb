-- ToolJet's audit_logs table, as server/migrations/1637909008629-CreateAuditLogs.ts creates it (every ToolJet
-- 3.x database has it; EE writes one row per audited action through the 'auditLogEntry' event that
-- server/src/modules/app/interceptors/response.interceptor.ts emits). Loaded after every schema_*.sql by
-- tooljet_harness.load_sql, whatever the variant; a test drops it to show a schema without it.
CREATE TABLE audit_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NULL REFERENCES users (id),
    organization_id uuid NULL REFERENCES organizations (id),
    action_type varchar NOT NULL,
    resource_id uuid NULL,
    resource_type varchar NULL,
    resource_name varchar NULL,
    resource_data json NULL,
    ip_address varchar NULL,
    metadata json NULL,
    created_at timestamp NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_organization_id_created_at_brin_idx ON audit_logs
    USING BRIN (organization_id, created_at) WITH (pages_per_range = 32);
