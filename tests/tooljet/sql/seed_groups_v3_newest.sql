-- Ids 0d...06xx and 1c...06xx are this file's own (seed_edge.sql uses 0d...e1/e2).
-- Groups of the newest variant: first those of the recent variant (seed_groups_v3_recent.sql), as current
-- createDefaultGroups and the later data migrations left them:
--   * flags from current DEFAULT_GROUP_PERMISSIONS (admin and builder everything, end-user nothing; the folder
--     flags copied from folder_crud into folder_create/folder_delete by 1766500000000; folder_data_source_* true
--     for admin only, 1774255109000); app_promote/app_release backfilled by 1749810303901 (custom groups:
--     app_create OR app_delete);
--   * an admin also ticked "Workflows: create" on sales-ops (a flag the configuration format has no word for);
--   * can_access_* per 1733275000001: default admin all, builder all but production, end-user released only;
--     custom groups by their first member's role (finance: carol, end-user -> released only; sales-ops: bob,
--     builder -> development/staging/released, production = can_edit);
--   * 'Folders' granular rows for every group and their folders_group_permissions rows (1766500000001: admin and
--     builder can_edit_folder, custom groups can_view_apps, none for end-user because that statement filters on
--     'end_user').

INSERT INTO permission_groups (id, organization_id, name, type, app_create, app_delete, org_constant_crud,
                               data_source_create, data_source_delete, workflow_create, workflow_delete,
                               app_promote, app_release, folder_create, folder_delete,
                               folder_data_source_create, folder_data_source_delete, created_at) VALUES
    ('0c000000-0000-4000-8000-0000000000a1', '0a000000-0000-4000-8000-000000000001', 'end-user', 'default',
     false, false, false, false, false, false, false, false, false, false, false, false, false, '2024-08-01 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000a2', '0a000000-0000-4000-8000-000000000001', 'admin', 'default',
     true, true, true, true, true, true, true, true, true, true, true, true, true, '2024-08-01 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000a3', '0a000000-0000-4000-8000-000000000001', 'builder', 'default',
     true, true, true, true, true, true, true, true, true, true, true, false, false, '2024-08-01 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000a4', '0a000000-0000-4000-8000-000000000001', 'finance', 'custom',
     false, false, false, false, false, false, false, false, false, false, false, false, false, '2024-08-03 10:00:00'),
    ('0c000000-0000-4000-8000-0000000000a5', '0a000000-0000-4000-8000-000000000001', 'sales-ops', 'custom',
     true, false, false, false, false, true, false, true, true, false, false, false, false, '2024-08-03 10:05:00'),
    ('0c000000-0000-4000-8000-0000000000b1', '0a000000-0000-4000-8000-000000000002', 'end-user', 'default',
     false, false, false, false, false, false, false, false, false, false, false, false, false, '2024-08-02 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000b2', '0a000000-0000-4000-8000-000000000002', 'admin', 'default',
     true, true, true, true, true, true, true, true, true, true, true, true, true, '2024-08-02 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000b3', '0a000000-0000-4000-8000-000000000002', 'builder', 'default',
     true, true, true, true, true, true, true, true, true, true, true, false, false, '2024-08-02 09:00:00');

INSERT INTO granular_permissions (id, group_id, name, type, is_all, created_at) VALUES
    ('0d000000-0000-4000-8000-0000000000a1', '0c000000-0000-4000-8000-0000000000a1', 'Apps', 'app', true, '2024-08-01 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000a2', '0c000000-0000-4000-8000-0000000000a2', 'Apps', 'app', true, '2024-08-01 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000a3', '0c000000-0000-4000-8000-0000000000a2', 'Data sources', 'data_source', true, '2024-08-01 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000a4', '0c000000-0000-4000-8000-0000000000a3', 'Apps', 'app', true, '2024-08-01 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000a5', '0c000000-0000-4000-8000-0000000000a3', 'Data sources', 'data_source', true, '2024-08-01 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000a6', '0c000000-0000-4000-8000-0000000000a4', 'Apps', 'app', false, '2024-08-03 10:01:00'),
    ('0d000000-0000-4000-8000-0000000000a7', '0c000000-0000-4000-8000-0000000000a5', 'Apps', 'app', false, '2024-08-03 10:06:00'),
    ('0d000000-0000-4000-8000-0000000000a8', '0c000000-0000-4000-8000-0000000000a5', 'Data sources', 'data_source', false, '2024-08-03 10:07:00'),
    ('0d000000-0000-4000-8000-0000000000b1', '0c000000-0000-4000-8000-0000000000b1', 'Apps', 'app', true, '2024-08-02 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000b2', '0c000000-0000-4000-8000-0000000000b2', 'Apps', 'app', true, '2024-08-02 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000b3', '0c000000-0000-4000-8000-0000000000b2', 'Data sources', 'data_source', true, '2024-08-02 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000b4', '0c000000-0000-4000-8000-0000000000b3', 'Apps', 'app', true, '2024-08-02 09:00:00'),
    ('0d000000-0000-4000-8000-0000000000b5', '0c000000-0000-4000-8000-0000000000b3', 'Data sources', 'data_source', true, '2024-08-02 09:00:00'),
    -- 1766500000001-SeedFolderPermissions: a 'Folders' row for every group
    ('0d000000-0000-4000-8000-0000000000c1', '0c000000-0000-4000-8000-0000000000a1', 'Folders', 'folder', true, '2025-06-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000000c2', '0c000000-0000-4000-8000-0000000000a2', 'Folders', 'folder', true, '2025-06-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000000c3', '0c000000-0000-4000-8000-0000000000a3', 'Folders', 'folder', true, '2025-06-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000000c4', '0c000000-0000-4000-8000-0000000000a4', 'Folders', 'folder', true, '2025-06-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000000c5', '0c000000-0000-4000-8000-0000000000a5', 'Folders', 'folder', true, '2025-06-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000000d1', '0c000000-0000-4000-8000-0000000000b1', 'Folders', 'folder', true, '2025-06-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000000d2', '0c000000-0000-4000-8000-0000000000b2', 'Folders', 'folder', true, '2025-06-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000000d3', '0c000000-0000-4000-8000-0000000000b3', 'Folders', 'folder', true, '2025-06-01 00:00:00');

INSERT INTO apps_group_permissions (id, granular_permission_id, can_edit, can_view, hide_from_dashboard, app_type,
                                    can_access_development, can_access_staging, can_access_production,
                                    can_access_released) VALUES
    ('0e000000-0000-4000-8000-0000000000a1', '0d000000-0000-4000-8000-0000000000a1', false, true, false, 'front-end', false, false, false, true),
    ('0e000000-0000-4000-8000-0000000000a2', '0d000000-0000-4000-8000-0000000000a2', true, false, false, 'front-end', true, true, true, true),
    ('0e000000-0000-4000-8000-0000000000a4', '0d000000-0000-4000-8000-0000000000a4', true, false, false, 'front-end', true, true, false, true),
    ('0e000000-0000-4000-8000-0000000000a6', '0d000000-0000-4000-8000-0000000000a6', false, true, false, 'front-end', false, false, false, true),
    ('0e000000-0000-4000-8000-0000000000a7', '0d000000-0000-4000-8000-0000000000a7', true, false, false, 'front-end', true, true, true, true),
    ('0e000000-0000-4000-8000-0000000000b1', '0d000000-0000-4000-8000-0000000000b1', false, true, false, 'front-end', false, false, false, true),
    ('0e000000-0000-4000-8000-0000000000b2', '0d000000-0000-4000-8000-0000000000b2', true, false, false, 'front-end', true, true, true, true),
    ('0e000000-0000-4000-8000-0000000000b4', '0d000000-0000-4000-8000-0000000000b4', true, false, false, 'front-end', true, true, false, true);

INSERT INTO group_apps (id, app_id, apps_group_permissions_id) VALUES
    ('0f000000-0000-4000-8000-0000000000a1', '2a000000-0000-4000-8000-000000000001', '0e000000-0000-4000-8000-0000000000a6'),
    ('0f000000-0000-4000-8000-0000000000a2', '2a000000-0000-4000-8000-000000000002', '0e000000-0000-4000-8000-0000000000a7');

INSERT INTO data_sources_group_permissions (id, granular_permission_id, can_configure, can_use) VALUES
    ('1a000000-0000-4000-8000-0000000000a8', '0d000000-0000-4000-8000-0000000000a8', false, true);
INSERT INTO group_data_sources (id, data_source_id, data_sources_group_permissions_id) VALUES
    ('1b000000-0000-4000-8000-0000000000a1', '2b000000-0000-4000-8000-000000000002', '1a000000-0000-4000-8000-0000000000a8');

INSERT INTO folders_group_permissions (id, granular_permission_id, can_edit_folder, can_edit_apps, can_view_apps) VALUES
    ('1c000000-0000-4000-8000-0000000000c2', '0d000000-0000-4000-8000-0000000000c2', true, false, false),
    ('1c000000-0000-4000-8000-0000000000c3', '0d000000-0000-4000-8000-0000000000c3', true, false, false),
    ('1c000000-0000-4000-8000-0000000000c4', '0d000000-0000-4000-8000-0000000000c4', false, false, true),
    ('1c000000-0000-4000-8000-0000000000c5', '0d000000-0000-4000-8000-0000000000c5', false, false, true),
    ('1c000000-0000-4000-8000-0000000000d2', '0d000000-0000-4000-8000-0000000000d2', true, false, false),
    ('1c000000-0000-4000-8000-0000000000d3', '0d000000-0000-4000-8000-0000000000d3', true, false, false);

-- Then the data migrations of ToolJet's 2026 releases, as they backfill existing groups on a CE instance (no
-- licence, the "free plan" of those migrations):
--   * 1782112568534-BackfillTjdbPermission: tjdb_crud = true for the default admin and builder groups (end-user
--     and custom groups keep the column default, false);
--   * 1782197622558-BackfillModuleCreateDeleteForDefaultGroups: module_create/module_delete = true, same groups;
--   * 1784112436513-AddWorkflowFolderGranularPermissionsToExistingAdminGroups: workflow_folder_* = true and a
--     'Workflow folders' granular row (folders_group_permissions can_edit_folder) for the admin group;
--   * 1784551394230-AddModuleFolderGranularPermissionsToExistingAdminAndBuilderGroups: module_folder_* = true and
--     a 'Module folders' row, for admin and builder on a free plan (CE), admin only on a paid one.
UPDATE permission_groups SET tjdb_crud = true WHERE name IN ('admin', 'builder') AND type = 'default';
UPDATE permission_groups SET module_create = true, module_delete = true
    WHERE type = 'default' AND name IN ('admin', 'builder');
UPDATE permission_groups SET workflow_folder_create = true, workflow_folder_delete = true
    WHERE type = 'default' AND name = 'admin';
UPDATE permission_groups SET module_folder_create = true, module_folder_delete = true
    WHERE type = 'default' AND name IN ('admin', 'builder');

INSERT INTO granular_permissions (id, group_id, name, type, is_all, created_at) VALUES
    ('0d000000-0000-4000-8000-0000000006e2', '0c000000-0000-4000-8000-0000000000a2', 'Workflow folders', 'workflow_folder', true, '2026-07-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000006f2', '0c000000-0000-4000-8000-0000000000b2', 'Workflow folders', 'workflow_folder', true, '2026-07-01 00:00:00'),
    ('0d000000-0000-4000-8000-0000000006e3', '0c000000-0000-4000-8000-0000000000a2', 'Module folders', 'module_folder', true, '2026-07-02 00:00:00'),
    ('0d000000-0000-4000-8000-0000000006e4', '0c000000-0000-4000-8000-0000000000a3', 'Module folders', 'module_folder', true, '2026-07-02 00:00:00'),
    ('0d000000-0000-4000-8000-0000000006f3', '0c000000-0000-4000-8000-0000000000b2', 'Module folders', 'module_folder', true, '2026-07-02 00:00:00'),
    ('0d000000-0000-4000-8000-0000000006f4', '0c000000-0000-4000-8000-0000000000b3', 'Module folders', 'module_folder', true, '2026-07-02 00:00:00');

INSERT INTO folders_group_permissions (id, granular_permission_id, can_edit_folder, can_edit_apps, can_view_apps) VALUES
    ('1c000000-0000-4000-8000-0000000006e2', '0d000000-0000-4000-8000-0000000006e2', true, false, false),
    ('1c000000-0000-4000-8000-0000000006f2', '0d000000-0000-4000-8000-0000000006f2', true, false, false),
    ('1c000000-0000-4000-8000-0000000006e3', '0d000000-0000-4000-8000-0000000006e3', true, false, false),
    ('1c000000-0000-4000-8000-0000000006e4', '0d000000-0000-4000-8000-0000000006e4', true, false, false),
    ('1c000000-0000-4000-8000-0000000006f3', '0d000000-0000-4000-8000-0000000006f3', true, false, false),
    ('1c000000-0000-4000-8000-0000000006f4', '0d000000-0000-4000-8000-0000000006f4', true, false, false);
