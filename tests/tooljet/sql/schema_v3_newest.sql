-- The newest ToolJet 3.x (2026): schema_v3_recent.sql plus ToolJet's 2026 migrations
--   1782112343421-AddTjdbPermission (permission_groups.tjdb_crud),
--   1782196835449-AddModuleCreateDeleteToGroupPermissions (module_create, module_delete),
--   1784112371030-AddWorkflowFolderGranularPermissions (workflow_folder_create/_delete, resource_type
--   'workflow_folder'),
--   1784551352800-AddModuleFolderGranularPermissions (module_folder_create/_delete, resource_type 'module_folder');
-- all NOT NULL DEFAULT false, as the migrations add them. What follows is the recent fixture's own header.
--
-- A recent ToolJet 3.x: workflow flags (1746705301652), promote/release flags (1749810303901), app_type on
-- apps_group_permissions (1746705448788), environment access columns (data migration 1733274999001), the folder
-- permission system (1766500000000: folder_create/folder_delete replace folder_crud; folders_group_permissions),
-- folder data source permissions (1774255109000 / 1774255110000), the 'module' types (1781869753341 / 1781868342325)
-- and an enum organization_users.status (the entity's mapping). Written from ../shared/reference/tooljet-schema.md.
--
-- Deviations, all immaterial to the backend:
--   * users.id defaults to gen_random_uuid() (ToolJet: uuid_generate_v4() from the uuid-ossp extension);
--   * folders.name is varchar (ToolJet: citext);
--   * only the columns of apps / data_sources / folders that references need are created.

CREATE TYPE status AS ENUM ('invited', 'verified', 'active', 'archived');
CREATE TYPE source AS ENUM ('signup', 'invite', 'google', 'git', 'openid', 'ldap', 'saml', 'workspace_signup');
CREATE TYPE user_type AS ENUM ('instance', 'workspace');
CREATE TYPE onboarding_status_enum AS ENUM ('not_started', 'account_created', 'plan_selected', 'onboarding_completed');
CREATE TYPE workspace_status AS ENUM ('active', 'archived');
CREATE TYPE group_permissions_type AS ENUM ('custom', 'default');
CREATE TYPE resource_type AS ENUM ('app', 'data_source', 'workflow', 'folder', 'folder_data_source', 'module',
                                   'workflow_folder', 'module_folder');  -- 1784112371030, 1784551352800
CREATE TYPE app_type AS ENUM ('front-end', 'workflow', 'module');
CREATE TYPE "type" AS ENUM ('static', 'default', 'sample');
CREATE TYPE scope AS ENUM ('local', 'global');

CREATE TABLE organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar,
    domain varchar,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    enable_sign_up boolean NOT NULL DEFAULT false,
    inherit_sso boolean NOT NULL DEFAULT true,
    slug varchar NULL,
    "ownerId" varchar NULL,
    status workspace_status NOT NULL DEFAULT 'active',
    automatic_sso_login boolean NOT NULL DEFAULT false,
    is_default boolean NOT NULL DEFAULT false,                                                  -- 1740401000000
    CONSTRAINT slug_organizations_unique UNIQUE (slug),
    CONSTRAINT name_organizations_unique UNIQUE (name)
);
CREATE UNIQUE INDEX idx_organizations_single_default ON organizations (is_default) WHERE is_default = true;

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    first_name varchar,
    last_name varchar,
    email varchar,
    password_digest varchar,
    invitation_token varchar,
    forgot_password_token varchar,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    company_size varchar,
    company_name varchar,
    user_type user_type NOT NULL DEFAULT 'workspace',
    status status NOT NULL DEFAULT 'invited',
    source source NOT NULL DEFAULT 'invite',
    onboarding_status onboarding_status_enum NOT NULL DEFAULT 'not_started',                    -- 1725540058378
    organization_id uuid NULL REFERENCES organizations (id),
    role varchar,
    phone_number varchar,
    avatar_id uuid,
    password_retry_count integer DEFAULT 0,
    auto_activated boolean DEFAULT false,                                                       -- 1738235725332
    invitation_token_expiry timestamptz NULL,
    forgot_password_token_expiry timestamptz NULL,
    password_expiry timestamptz NULL,
    expired_password_token varchar NULL,
    mfa_enabled boolean DEFAULT false,
    mfa_setup_completed_at timestamptz NULL,
    ai_build_notifications_enabled boolean DEFAULT true,
    CONSTRAINT "UQ_97672ac88f789774dd47f7c8be3" UNIQUE (email)
);

CREATE TABLE organization_users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role varchar NOT NULL,
    status status NOT NULL DEFAULT 'invited',                                                   -- enum in this variant
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    invitation_token varchar NULL,
    source source NOT NULL DEFAULT 'invite',
    invitation_token_expiry timestamptz NULL,
    last_branch_id uuid NULL,
    llm_provider varchar NULL,
    CONSTRAINT user_organization_unique UNIQUE (user_id, organization_id)
);

CREATE TABLE user_details (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sso_user_info json NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    user_metadata varchar(30000) NULL,
    organization_id uuid NULL REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT "UQ_user_details_organization_user" UNIQUE (organization_id, user_id)
);

CREATE TABLE apps (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar,
    slug varchar,
    user_id uuid NOT NULL,
    current_version_id uuid,
    is_public boolean,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    is_maintenance_on boolean DEFAULT false,
    icon varchar,
    creation_mode varchar DEFAULT 'DEFAULT',
    type varchar NOT NULL DEFAULT 'front-end',
    CONSTRAINT "UQ_35eef0fb1f3f2b435b8b6d82ba0" UNIQUE (slug)
);
CREATE UNIQUE INDEX app_name_organization_id_unique ON apps (name, organization_id, type)    -- 1773100000001
    WHERE creation_mode = 'DEFAULT';

CREATE TABLE data_sources (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id uuid NULL,
    name varchar NOT NULL,
    options json,
    kind varchar NOT NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    organization_id uuid NULL REFERENCES organizations (id),
    type "type" DEFAULT 'default',
    scope scope DEFAULT 'local',
    plugin_id uuid,
    app_version_id uuid
);

CREATE TABLE folders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    type varchar DEFAULT 'front-end',
    created_by uuid NULL,
    CONSTRAINT fk_folders_created_by FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT folder_name_organization_id_unique UNIQUE (name, organization_id)
);

CREATE TABLE permission_groups (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    name varchar(50) NOT NULL,
    type group_permissions_type NOT NULL DEFAULT 'custom',
    app_create boolean DEFAULT false,
    app_delete boolean DEFAULT false,
    org_constant_crud boolean DEFAULT false,
    data_source_create boolean DEFAULT false,
    data_source_delete boolean DEFAULT false,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp DEFAULT CURRENT_TIMESTAMP,
    workflow_create boolean NOT NULL DEFAULT false,                                             -- 1746705301652
    workflow_delete boolean NOT NULL DEFAULT false,
    app_promote boolean NOT NULL DEFAULT false,                                                 -- 1749810303901
    app_release boolean NOT NULL DEFAULT false,
    folder_create boolean NOT NULL DEFAULT false,                                               -- 1766500000000
    folder_delete boolean NOT NULL DEFAULT false,
    folder_data_source_create boolean NOT NULL DEFAULT false,                                   -- 1774255109000
    folder_data_source_delete boolean NOT NULL DEFAULT false,
    tjdb_crud boolean NOT NULL DEFAULT false,                                                   -- 1782112343421
    module_create boolean NOT NULL DEFAULT false,                                               -- 1782196835449
    module_delete boolean NOT NULL DEFAULT false,
    workflow_folder_create boolean NOT NULL DEFAULT false,                                      -- 1784112371030
    workflow_folder_delete boolean NOT NULL DEFAULT false,
    module_folder_create boolean NOT NULL DEFAULT false,                                        -- 1784551352800
    module_folder_delete boolean NOT NULL DEFAULT false,
    CONSTRAINT fk_organization_id FOREIGN KEY (organization_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT group_name_organization_id_unique UNIQUE (organization_id, name)
);

CREATE TABLE group_users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    group_id uuid NOT NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT fk_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_group_id FOREIGN KEY (group_id) REFERENCES permission_groups (id) ON DELETE CASCADE,
    CONSTRAINT user_group_unique UNIQUE (user_id, group_id)
);

CREATE TABLE granular_permissions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id uuid NULL,
    name varchar(50) NOT NULL,
    type resource_type NOT NULL,
    is_all boolean DEFAULT true,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT fk_group_id FOREIGN KEY (group_id) REFERENCES permission_groups (id) ON DELETE CASCADE,
    CONSTRAINT granular_permissions_name_unique UNIQUE (name, group_id)
);

CREATE TABLE apps_group_permissions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    granular_permission_id uuid UNIQUE NOT NULL,
    can_edit boolean DEFAULT false,
    can_view boolean DEFAULT false,
    hide_from_dashboard boolean DEFAULT false,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    app_type app_type NOT NULL DEFAULT 'front-end',                                             -- 1746705448788
    can_access_development boolean NOT NULL DEFAULT true,                                       -- 1733274999001
    can_access_staging boolean NOT NULL DEFAULT true,
    can_access_production boolean NOT NULL DEFAULT true,
    can_access_released boolean NOT NULL DEFAULT true,
    CONSTRAINT fk_granular_permission_id FOREIGN KEY (granular_permission_id)
        REFERENCES granular_permissions (id) ON DELETE CASCADE
);
CREATE INDEX idx_granular_permission_id ON apps_group_permissions (granular_permission_id);

CREATE TABLE group_apps (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id uuid NULL,
    apps_group_permissions_id uuid NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT fk_app_id FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    CONSTRAINT fk_apps_group_permissions_id FOREIGN KEY (apps_group_permissions_id)
        REFERENCES apps_group_permissions (id) ON DELETE CASCADE,
    CONSTRAINT unique_app_and_permission UNIQUE (app_id, apps_group_permissions_id)
);

CREATE TABLE data_sources_group_permissions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    granular_permission_id uuid NULL,
    can_configure boolean DEFAULT false,
    can_use boolean DEFAULT false,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    co_relation_id uuid NULL,
    CONSTRAINT fk_granular_permission_id FOREIGN KEY (granular_permission_id)
        REFERENCES granular_permissions (id) ON DELETE CASCADE
);
CREATE INDEX idx_ds_granular_permission_id ON data_sources_group_permissions (granular_permission_id);

CREATE TABLE group_data_sources (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    data_source_id uuid NULL,
    data_sources_group_permissions_id uuid NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    co_relation_id uuid NULL,
    CONSTRAINT fk_data_source_id FOREIGN KEY (data_source_id) REFERENCES data_sources (id) ON DELETE CASCADE,
    CONSTRAINT fk_data_sources_permissions_id FOREIGN KEY (data_sources_group_permissions_id)
        REFERENCES data_sources_group_permissions (id) ON DELETE CASCADE
);

CREATE TABLE folders_group_permissions (                                                        -- 1766500000000
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    granular_permission_id uuid UNIQUE NOT NULL,
    can_edit_folder boolean DEFAULT false,
    can_edit_apps boolean DEFAULT false,
    can_view_apps boolean DEFAULT false,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT fk_folders_granular_permission_id FOREIGN KEY (granular_permission_id)
        REFERENCES granular_permissions (id) ON DELETE CASCADE
);
CREATE INDEX idx_folders_granular_permission_id ON folders_group_permissions (granular_permission_id);

CREATE TABLE group_folders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    folder_id uuid NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    folders_group_permissions_id uuid NOT NULL REFERENCES folders_group_permissions (id) ON DELETE CASCADE,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT unique_folder_and_permission UNIQUE (folder_id, folders_group_permissions_id)
);

CREATE TABLE folder_data_sources_group_permissions (                                            -- 1774255110000
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    granular_permission_id uuid UNIQUE NOT NULL REFERENCES granular_permissions (id) ON DELETE CASCADE,
    can_edit_folder boolean DEFAULT false,
    can_configure_ds boolean DEFAULT false,
    can_use_ds boolean DEFAULT false,
    can_run_query boolean DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_folder_data_sources (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    folder_id uuid NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    folder_data_sources_group_permissions_id uuid NOT NULL
        REFERENCES folder_data_sources_group_permissions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
