-- Edge states ToolJet can hold (issue 16), loaded after the normal seeds for every variant. Only columns every
-- 3.x variant has; flag and is_default columns that only some variants have are set in DO blocks when present.
--   * acme is the instance's default workspace (organizations.is_default, migration 1740401000000);
--   * alice owns invoices and payroll, bob owns crm (apps.user_id, from seed_common.sql);
--   * frank is in two default groups, admin and builder: the default-group check of addUsersToGroup is
--     commented out ("for enable signup cases"); roles/repository.ts getUserRole reads him as admin;
--   * gina is in no default group (she is in the custom group 'empty-grants' only);
--   * hank is an end-user in 'builders-x', a builder-level custom group (app_create), as ToolJet's external API
--     and data migrations leave such members; 'builders-x' also has the unmapped flag workflow_create (where
--     the column exists);
--   * 'empty-grants' has an app child and a data source child with every action false (ToolJet: no access);
--   * an app with NULL slug and NULL name (ToolJet's v2 external API, external-apis/AGENTS.md), granted to
--     'finance' next to invoices;
--   * metadata ToolJet stores but that is not a map of strings: bob's blob was encrypted with another key,
--     carol's decrypts to the JSON number 42, dave's to a nested object, frank's to the raw string 'team,ops'
--     (ToolJet's session/util.service.ts decryptUserMetadata reads these as {} or as the parsed JSON).

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'organizations' AND column_name = 'is_default') THEN
        EXECUTE 'UPDATE organizations SET is_default = true WHERE slug = ''acme''';
    END IF;
END $$;

INSERT INTO users (id, email, first_name, last_name, status, source, user_type, invitation_token, organization_id,
                   password_digest) VALUES
    ('0b000000-0000-4000-8000-000000000011', 'frank@acme.example', 'Frank', 'Ng', 'active', 'invite', 'workspace',
     NULL, '0a000000-0000-4000-8000-000000000001', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK'),
    ('0b000000-0000-4000-8000-000000000012', 'gina@acme.example', 'Gina', 'Ruiz', 'active', 'invite', 'workspace',
     NULL, '0a000000-0000-4000-8000-000000000001', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK'),
    ('0b000000-0000-4000-8000-000000000013', 'hank@acme.example', 'Hank', 'Ito', 'active', 'invite', 'workspace',
     NULL, '0a000000-0000-4000-8000-000000000001', '$2b$10$abcdefghijklmnopqrstuu4w2aQ0uH3mG0dJ8jz6cA7e9mXoYp3tK');

INSERT INTO organization_users (id, organization_id, user_id, role, status, invitation_token, source) VALUES
    ('3a000000-0000-4000-8000-000000000011', '0a000000-0000-4000-8000-000000000001',
     '0b000000-0000-4000-8000-000000000011', 'all-users', 'active', NULL, 'invite'),
    ('3a000000-0000-4000-8000-000000000012', '0a000000-0000-4000-8000-000000000001',
     '0b000000-0000-4000-8000-000000000012', 'all-users', 'active', NULL, 'invite'),
    ('3a000000-0000-4000-8000-000000000013', '0a000000-0000-4000-8000-000000000001',
     '0b000000-0000-4000-8000-000000000013', 'all-users', 'active', NULL, 'invite');

INSERT INTO permission_groups (id, organization_id, name, type, app_create, created_at) VALUES
    ('0c000000-0000-4000-8000-0000000000e1', '0a000000-0000-4000-8000-000000000001', 'builders-x', 'custom',
     true, '2024-09-01 10:00:00'),
    ('0c000000-0000-4000-8000-0000000000e2', '0a000000-0000-4000-8000-000000000001', 'empty-grants', 'custom',
     false, '2024-09-01 10:05:00');

DO $$
DECLARE
    flag text;
BEGIN
    FOREACH flag IN ARRAY ARRAY['workflow_create', 'workflow_delete'] LOOP
        IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'permission_groups' AND column_name = flag) THEN
            EXECUTE format('UPDATE permission_groups SET %I = true WHERE id = %L', flag,
                           '0c000000-0000-4000-8000-0000000000e1');
        END IF;
    END LOOP;
END $$;

INSERT INTO group_users (user_id, group_id) VALUES
    ('0b000000-0000-4000-8000-000000000011', '0c000000-0000-4000-8000-0000000000a2'),  -- frank -> admin
    ('0b000000-0000-4000-8000-000000000011', '0c000000-0000-4000-8000-0000000000a3'),  -- frank -> builder too
    ('0b000000-0000-4000-8000-000000000012', '0c000000-0000-4000-8000-0000000000e2'),  -- gina -> empty-grants only
    ('0b000000-0000-4000-8000-000000000013', '0c000000-0000-4000-8000-0000000000a1'),  -- hank -> end-user
    ('0b000000-0000-4000-8000-000000000013', '0c000000-0000-4000-8000-0000000000e1');  -- hank -> builders-x

INSERT INTO granular_permissions (id, group_id, name, type, is_all, created_at) VALUES
    ('0d000000-0000-4000-8000-0000000000e1', '0c000000-0000-4000-8000-0000000000e2', 'Apps', 'app', false,
     '2024-09-01 10:06:00'),
    ('0d000000-0000-4000-8000-0000000000e2', '0c000000-0000-4000-8000-0000000000e2', 'Data sources', 'data_source',
     false, '2024-09-01 10:07:00');

INSERT INTO apps_group_permissions (id, granular_permission_id, can_edit, can_view, hide_from_dashboard) VALUES
    ('0e000000-0000-4000-8000-0000000000e1', '0d000000-0000-4000-8000-0000000000e1', false, false, false);
-- The empty app row reaches no environment either, where the schema has environment columns: ToolJet counts a view
-- row's development/staging/production access as builder-level (checkIfBuilderLevelEnvironmentPermissions), and this
-- row is meant to grant nothing at all.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'apps_group_permissions' AND column_name = 'can_access_development') THEN
        UPDATE apps_group_permissions SET can_access_development = false, can_access_staging = false,
            can_access_production = false, can_access_released = false
        WHERE id = '0e000000-0000-4000-8000-0000000000e1';
    END IF;
END $$;
INSERT INTO data_sources_group_permissions (id, granular_permission_id, can_configure, can_use) VALUES
    ('0f000000-0000-4000-8000-0000000000e1', '0d000000-0000-4000-8000-0000000000e2', false, false);
INSERT INTO group_apps (app_id, apps_group_permissions_id) VALUES
    ('2a000000-0000-4000-8000-000000000001', '0e000000-0000-4000-8000-0000000000e1');  -- invoices
INSERT INTO group_data_sources (data_source_id, data_sources_group_permissions_id) VALUES
    ('2b000000-0000-4000-8000-000000000002', '0f000000-0000-4000-8000-0000000000e1');  -- stripe

-- An app created through ToolJet's v2 external API: no name, no slug; granted to finance (its 'Apps' child).
INSERT INTO apps (id, name, slug, user_id, organization_id, type, is_public) VALUES
    ('2a000000-0000-4000-8000-0000000000e1', NULL, NULL, '0b000000-0000-4000-8000-000000000001',
     '0a000000-0000-4000-8000-000000000001', 'front-end', false);
INSERT INTO group_apps (app_id, apps_group_permissions_id)
    SELECT '2a000000-0000-4000-8000-0000000000e1', a.id FROM apps_group_permissions a
    WHERE a.granular_permission_id = '0d000000-0000-4000-8000-0000000000a6';

-- Metadata that is not a map of strings (TEST_LOCKBOX_KEY, except bob's: another key).
UPDATE user_details SET user_metadata = '3wekem77hiPJr3/kp8liO26i6k/0Gk3pmblFLRPHmh6yM03Alwx4tg=='
    WHERE id = '3b000000-0000-4000-8000-000000000003';  -- bob in acme (his SSO row)
INSERT INTO user_details (id, user_id, organization_id, user_metadata) VALUES
    ('3b000000-0000-4000-8000-000000000011', '0b000000-0000-4000-8000-000000000003',
     '0a000000-0000-4000-8000-000000000001', 'F0ppuXzoAxkFHmQY32frU3oISOwBD3cEdYXAMubt'),  -- carol: 42
    ('3b000000-0000-4000-8000-000000000012', '0b000000-0000-4000-8000-000000000004',
     '0a000000-0000-4000-8000-000000000001',
     'NwznNGfwsOXU5Yxv4dPGrYj5JJwsWKkJtqCUdKMcBFfOBCf2f32McbDqjYK614ybTp2/'),  -- dave: nested object
    ('3b000000-0000-4000-8000-000000000013', '0b000000-0000-4000-8000-000000000011',
     '0a000000-0000-4000-8000-000000000001', 'OJKEZ+aOp/phcVL7hh8WyYtaIL+hcB787D1HbZDTFW6ZQLmF');  -- frank: raw
