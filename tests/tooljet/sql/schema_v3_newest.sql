-- on top of: schema_v3_recent.sql
-- The newest ToolJet 3.x (2026): the recent fixture, then ToolJet's 2026 migrations as they run on it
--   1782112343421-AddTjdbPermission (permission_groups.tjdb_crud),
--   1782196835449-AddModuleCreateDeleteToGroupPermissions (module_create, module_delete),
--   1784112371030-AddWorkflowFolderGranularPermissions (workflow_folder_create/_delete, resource_type
--   'workflow_folder'),
--   1784551352800-AddModuleFolderGranularPermissions (module_folder_create/_delete, resource_type 'module_folder');
-- all NOT NULL DEFAULT false, as the migrations add them (so the columns come last, as on a migrated database).

ALTER TYPE resource_type ADD VALUE 'workflow_folder';                                              -- 1784112371030
ALTER TYPE resource_type ADD VALUE 'module_folder';                                                -- 1784551352800

ALTER TABLE permission_groups
    ADD COLUMN tjdb_crud boolean NOT NULL DEFAULT false,                                            -- 1782112343421
    ADD COLUMN module_create boolean NOT NULL DEFAULT false,                                        -- 1782196835449
    ADD COLUMN module_delete boolean NOT NULL DEFAULT false,
    ADD COLUMN workflow_folder_create boolean NOT NULL DEFAULT false,                               -- 1784112371030
    ADD COLUMN workflow_folder_delete boolean NOT NULL DEFAULT false,
    ADD COLUMN module_folder_create boolean NOT NULL DEFAULT false,                                 -- 1784551352800
    ADD COLUMN module_folder_delete boolean NOT NULL DEFAULT false;
