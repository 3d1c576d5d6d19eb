-- on top of: seed_groups_v3_recent.sql
-- Ids 0d...06xx and 1c...06xx are this file's own (seed_edge.sql uses 0d...e1/e2).
-- Groups of the newest variant: those of the recent variant (seed_groups_v3_recent.sql), as current
-- createDefaultGroups and the later data migrations left them.

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
