-- Groups of the earlier 3.x variant, as createDefaultGroups (early 3.0 constants: the builder has
-- data_source_create/delete = false; no workflow or promote flags) and the group UI wrote them.
-- Default groups in ToolJet's insert order: end-user, admin, builder. Granular rows (CE): 'Apps' for every default
-- group with its apps_group_permissions row; 'Data sources' for admin and builder, without a child row.

INSERT INTO permission_groups (id, organization_id, name, type, app_create, app_delete, folder_crud,
                               org_constant_crud, data_source_create, data_source_delete, created_at) VALUES
    ('0c000000-0000-4000-8000-0000000000a1', '0a000000-0000-4000-8000-000000000001', 'end-user', 'default',
     false, false, false, false, false, false, '2024-08-01 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000a2', '0a000000-0000-4000-8000-000000000001', 'admin', 'default',
     true, true, true, true, true, true, '2024-08-01 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000a3', '0a000000-0000-4000-8000-000000000001', 'builder', 'default',
     true, true, true, true, false, false, '2024-08-01 09:00:00'),
    -- custom groups made in the UI: finance (view invoices), sales-ops (create apps, edit crm, use stripe)
    ('0c000000-0000-4000-8000-0000000000a4', '0a000000-0000-4000-8000-000000000001', 'finance', 'custom',
     false, false, false, false, false, false, '2024-08-03 10:00:00'),
    ('0c000000-0000-4000-8000-0000000000a5', '0a000000-0000-4000-8000-000000000001', 'sales-ops', 'custom',
     true, false, false, false, false, false, '2024-08-03 10:05:00'),
    ('0c000000-0000-4000-8000-0000000000b1', '0a000000-0000-4000-8000-000000000002', 'end-user', 'default',
     false, false, false, false, false, false, '2024-08-02 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000b2', '0a000000-0000-4000-8000-000000000002', 'admin', 'default',
     true, true, true, true, true, true, '2024-08-02 09:00:00'),
    ('0c000000-0000-4000-8000-0000000000b3', '0a000000-0000-4000-8000-000000000002', 'builder', 'default',
     true, true, true, true, false, false, '2024-08-02 09:00:00');

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
    ('0d000000-0000-4000-8000-0000000000b5', '0c000000-0000-4000-8000-0000000000b3', 'Data sources', 'data_source', true, '2024-08-02 09:00:00');

INSERT INTO apps_group_permissions (id, granular_permission_id, can_edit, can_view, hide_from_dashboard) VALUES
    ('0e000000-0000-4000-8000-0000000000a1', '0d000000-0000-4000-8000-0000000000a1', false, true, false),
    ('0e000000-0000-4000-8000-0000000000a2', '0d000000-0000-4000-8000-0000000000a2', true, false, false),
    ('0e000000-0000-4000-8000-0000000000a4', '0d000000-0000-4000-8000-0000000000a4', true, false, false),
    ('0e000000-0000-4000-8000-0000000000a6', '0d000000-0000-4000-8000-0000000000a6', false, true, false),
    ('0e000000-0000-4000-8000-0000000000a7', '0d000000-0000-4000-8000-0000000000a7', true, false, false),
    ('0e000000-0000-4000-8000-0000000000b1', '0d000000-0000-4000-8000-0000000000b1', false, true, false),
    ('0e000000-0000-4000-8000-0000000000b2', '0d000000-0000-4000-8000-0000000000b2', true, false, false),
    ('0e000000-0000-4000-8000-0000000000b4', '0d000000-0000-4000-8000-0000000000b4', true, false, false);

INSERT INTO group_apps (id, app_id, apps_group_permissions_id) VALUES
    ('0f000000-0000-4000-8000-0000000000a1', '2a000000-0000-4000-8000-000000000001', '0e000000-0000-4000-8000-0000000000a6'),
    ('0f000000-0000-4000-8000-0000000000a2', '2a000000-0000-4000-8000-000000000002', '0e000000-0000-4000-8000-0000000000a7');

-- sales-ops' data source grant (an EE-style row: 'Build with' = can_use on stripe)
INSERT INTO data_sources_group_permissions (id, granular_permission_id, can_configure, can_use) VALUES
    ('1a000000-0000-4000-8000-0000000000a8', '0d000000-0000-4000-8000-0000000000a8', false, true);
INSERT INTO group_data_sources (id, data_source_id, data_sources_group_permissions_id) VALUES
    ('1b000000-0000-4000-8000-0000000000a1', '2b000000-0000-4000-8000-000000000002', '1a000000-0000-4000-8000-0000000000a8');
