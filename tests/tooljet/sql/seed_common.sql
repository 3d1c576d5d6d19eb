-- Seed rows shared by both variants, as ToolJet holds them after these actions in its UI:
--   * alice signed up and created workspace "Acme Corp" (slug acme): first user of the instance, so user_type
--     'instance', source 'signup', active; her membership row is createOne(isInvite=false): active, no token;
--   * alice invited bob (builder), carol (end-user), dave (end-user; never accepted) and erin (end-user; later
--     archived: status archived, token cleared, group rows kept); each invite wrote users (for new accounts:
--     status 'invited', source 'invite', an account token) and organization_users (role 'all-users',
--     status 'invited', source 'invite', a workspace token); accepting cleared both tokens and set 'active';
--   * olga created workspace "Other Inc" (slug other) and invited alice as an end-user; zed was archived in the
--     whole instance by a super admin;
--   * apps and data sources were built in ToolJet (including a workflow app, static data sources and a
--     sample data source, which are not part of the configuration's registry);
--   * metadata was saved through ToolJet's user drawer: user_details rows encrypted with LOCKBOX_MASTER_KEY
--     (tests/tooljet/lockbox_reference.py; the ciphertexts are the known-answer vectors of test_lockbox.py).
-- Default groups, custom groups, granular rows and group_users come from seed_groups_<variant>.sql and
-- seed_group_users.sql.

INSERT INTO organizations (id, name, slug, status, created_at, updated_at) VALUES
    ('0a000000-0000-4000-8000-000000000001', 'Acme Corp', 'acme', 'active', '2024-08-01 09:00', '2024-08-01 09:00'),
    ('0a000000-0000-4000-8000-000000000002', 'Other Inc', 'other', 'active', '2024-08-02 09:00', '2024-08-02 09:00');

INSERT INTO users (id, email, first_name, last_name, status, source, user_type, invitation_token, organization_id,
                   password_digest) VALUES
    ('0b000000-0000-4000-8000-000000000001', 'alice@acme.example', 'Alice', 'Smith', 'active', 'signup', 'instance',
     NULL, '0a000000-0000-4000-8000-000000000001', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK'),
    ('0b000000-0000-4000-8000-000000000002', 'bob@acme.example', 'Bob', 'Jones', 'active', 'invite', 'workspace',
     NULL, '0a000000-0000-4000-8000-000000000001', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK'),
    ('0b000000-0000-4000-8000-000000000003', 'carol@acme.example', 'Carol', 'Diaz', 'active', 'invite', 'workspace',
     NULL, '0a000000-0000-4000-8000-000000000001', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK'),
    ('0b000000-0000-4000-8000-000000000004', 'dave@acme.example', 'Dave', NULL, 'invited', 'invite', 'workspace',
     'f7b2d4c1-8e9a-4b0c-a1d2-e3f4a5b6c7d8', '0a000000-0000-4000-8000-000000000001', NULL),
    ('0b000000-0000-4000-8000-000000000005', 'erin@acme.example', 'Erin', 'Park', 'active', 'invite', 'workspace',
     NULL, '0a000000-0000-4000-8000-000000000001', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK'),
    ('0b000000-0000-4000-8000-000000000006', 'olga@other.example', 'Olga', 'Berg', 'active', 'signup', 'workspace',
     NULL, '0a000000-0000-4000-8000-000000000002', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK'),
    ('0b000000-0000-4000-8000-000000000007', 'zed@acme.example', 'Zed', 'Null', 'archived', 'invite', 'workspace',
     NULL, '0a000000-0000-4000-8000-000000000002', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK');

INSERT INTO organization_users (id, organization_id, user_id, role, status, invitation_token, source) VALUES
    ('3a000000-0000-4000-8000-000000000001', '0a000000-0000-4000-8000-000000000001',
     '0b000000-0000-4000-8000-000000000001', 'all-users', 'active', NULL, 'invite'),
    ('3a000000-0000-4000-8000-000000000002', '0a000000-0000-4000-8000-000000000001',
     '0b000000-0000-4000-8000-000000000002', 'all-users', 'active', NULL, 'invite'),
    ('3a000000-0000-4000-8000-000000000003', '0a000000-0000-4000-8000-000000000001',
     '0b000000-0000-4000-8000-000000000003', 'all-users', 'active', NULL, 'invite'),
    ('3a000000-0000-4000-8000-000000000004', '0a000000-0000-4000-8000-000000000001',
     '0b000000-0000-4000-8000-000000000004', 'all-users', 'invited', 'e1a1c6a0-5a1d-4d8e-9b3f-1e2d3c4b5a61', 'invite'),
    ('3a000000-0000-4000-8000-000000000005', '0a000000-0000-4000-8000-000000000001',
     '0b000000-0000-4000-8000-000000000005', 'all-users', 'archived', NULL, 'invite'),
    ('3a000000-0000-4000-8000-000000000006', '0a000000-0000-4000-8000-000000000002',
     '0b000000-0000-4000-8000-000000000006', 'all-users', 'active', NULL, 'invite'),
    ('3a000000-0000-4000-8000-000000000007', '0a000000-0000-4000-8000-000000000002',
     '0b000000-0000-4000-8000-000000000001', 'all-users', 'active', NULL, 'invite');

-- Encrypted by ToolJet: {"department":"finance"} for alice in acme, {"team":"payroll","badge":"B-7"} for alice in
-- other; bob has an SSO-only row (no metadata) that an upsert must keep.
INSERT INTO user_details (id, user_id, organization_id, user_metadata, sso_user_info) VALUES
    ('3b000000-0000-4000-8000-000000000001', '0b000000-0000-4000-8000-000000000001',
     '0a000000-0000-4000-8000-000000000001',
     'AAECAwQFBgcICQoLv2nlGgBIT5ExYh7AZ7XJ+sXQ3Qeo4wJgfh0yKRnwb0ikhcfwS0QPSA==', NULL),
    ('3b000000-0000-4000-8000-000000000002', '0b000000-0000-4000-8000-000000000001',
     '0a000000-0000-4000-8000-000000000002',
     'DA0ODxAREhMUFRYXujFpcq85HmDL0cWSVmNkeFNDgQRMSQlIPpuH1+u7BPf9PI08NwXHl/JTkwfzxwuD', NULL),
    ('3b000000-0000-4000-8000-000000000003', '0b000000-0000-4000-8000-000000000002',
     '0a000000-0000-4000-8000-000000000001', NULL, '{"sub": "bob-sso-id"}');

INSERT INTO apps (id, name, slug, user_id, organization_id, type, is_public) VALUES
    ('2a000000-0000-4000-8000-000000000001', 'Invoices', 'invoices', '0b000000-0000-4000-8000-000000000001',
     '0a000000-0000-4000-8000-000000000001', 'front-end', false),
    ('2a000000-0000-4000-8000-000000000002', 'CRM', 'crm', '0b000000-0000-4000-8000-000000000002',
     '0a000000-0000-4000-8000-000000000001', 'front-end', false),
    ('2a000000-0000-4000-8000-000000000003', 'Payroll', 'payroll', '0b000000-0000-4000-8000-000000000001',
     '0a000000-0000-4000-8000-000000000001', 'front-end', false),
    ('2a000000-0000-4000-8000-000000000004', 'Nightly sync', 'nightly-sync', '0b000000-0000-4000-8000-000000000002',
     '0a000000-0000-4000-8000-000000000001', 'workflow', false),
    ('2a000000-0000-4000-8000-000000000005', 'Other app', 'other-app', '0b000000-0000-4000-8000-000000000006',
     '0a000000-0000-4000-8000-000000000002', 'front-end', false);

INSERT INTO data_sources (id, name, kind, organization_id, type, scope, options) VALUES
    ('2b000000-0000-4000-8000-000000000001', 'postgres-prod', 'postgresql', '0a000000-0000-4000-8000-000000000001',
     'default', 'global', '{}'),
    ('2b000000-0000-4000-8000-000000000002', 'stripe', 'stripe', '0a000000-0000-4000-8000-000000000001',
     'default', 'global', '{}'),
    ('2b000000-0000-4000-8000-000000000003', 'restapidefault', 'restapi', '0a000000-0000-4000-8000-000000000001',
     'static', 'global', '{}'),
    ('2b000000-0000-4000-8000-000000000004', 'runjsdefault', 'runjs', '0a000000-0000-4000-8000-000000000001',
     'static', 'global', '{}'),
    ('2b000000-0000-4000-8000-000000000005', 'sample-db', 'postgresql', '0a000000-0000-4000-8000-000000000001',
     'sample', 'global', '{}'),
    ('2b000000-0000-4000-8000-000000000006', 'legacy-local', 'postgresql', '0a000000-0000-4000-8000-000000000001',
     'default', 'local', '{}'),
    ('2b000000-0000-4000-8000-000000000007', 'other-db', 'postgresql', '0a000000-0000-4000-8000-000000000002',
     'default', 'global', '{}');
