-- ToolJet 3.0.x (mid-2024, before the workflow / promote / environment / folder-split migrations):
-- the tables the tooljet backend reads or writes, plus the ones they reference, as ToolJet's migrations leave them.
-- Written from ../shared/reference/tooljet-schema.md (sections 1 and 2); migration names in the comments.
--
-- Deviations, all immaterial to the backend:
--   * users.id defaults to gen_random_uuid() (ToolJet: uuid_generate_v4() from the uuid-ossp extension);
--   * folders.name is varchar (ToolJet: citext from the citext extension);
--   * only the columns of apps / data_sources / folders that references need are created.
-- Enum types are created in the schema on the search path (the test's own schema).

CREATE TYPE status AS ENUM ('invited', 'verified', 'active', 'archived');                       -- 1666763190092
CREATE TYPE source AS ENUM ('signup', 'invite', 'google', 'git', 'openid', 'ldap', 'saml', 'workspace_signup');
CREATE TYPE user_type AS ENUM ('instance', 'workspace');                                        -- 1662540114954
CREATE TYPE workspace_status AS ENUM ('active', 'archived');                                    -- 1704258217404
CREATE TYPE group_permissions_type AS ENUM ('custom', 'default');                               -- 1714015513342
CREATE TYPE resource_type AS ENUM ('app', 'data_source');                                       -- 1714015564318
CREATE TYPE "type" AS ENUM ('static', 'default', 'sample');                                     -- 1710321318372
CREATE TYPE scope AS ENUM ('local', 'global');

CREATE TABLE organizations (                                                                    -- 1625814801416
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar,
    domain varchar,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    enable_sign_up boolean NOT NULL DEFAULT false,                                              -- 1650455299630
    inherit_sso boolean NOT NULL DEFAULT true,                                                  -- 1656268228782
    slug varchar NULL,                                                                          -- 1685952833787
    "ownerId" varchar NULL,                                                                     -- 1698603800358
    status workspace_status NOT NULL DEFAULT 'active',                                          -- 1704258217404
    automatic_sso_login boolean NOT NULL DEFAULT false,                                         -- 1723720691704
    CONSTRAINT slug_organizations_unique UNIQUE (slug),
    CONSTRAINT name_organizations_unique UNIQUE (name)                                          -- 1683136077244
);

CREATE TABLE users (                                                                            -- 1625814801417
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    first_name varchar,
    last_name varchar,
    email varchar,
    password_digest varchar,
    invitation_token varchar,
    forgot_password_token varchar,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    company_size varchar,                                                                       -- 1664352379065
    company_name varchar,
    user_type user_type NOT NULL DEFAULT 'workspace',                                           -- 1662540114954
    status status NOT NULL DEFAULT 'invited',                                                   -- 1666763190092
    source source NOT NULL DEFAULT 'invite',
    organization_id uuid NULL REFERENCES organizations (id),                                    -- entity: default workspace
    role varchar,
    phone_number varchar,
    avatar_id uuid,
    password_retry_count integer DEFAULT 0,
    CONSTRAINT "UQ_97672ac88f789774dd47f7c8be3" UNIQUE (email)
);

CREATE TABLE organization_users (                                                               -- 1625814801425
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role varchar NOT NULL,
    status varchar NOT NULL DEFAULT 'invited',                                                  -- varchar in this variant
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    invitation_token varchar NULL,                                                              -- 1645864719155
    source source NOT NULL DEFAULT 'invite',                                                    -- 1716975639914
    CONSTRAINT user_organization_unique UNIQUE (user_id, organization_id)                       -- 1691258637690
);

CREATE TABLE user_details (                                                                     -- 1680156219906
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sso_user_info json NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    user_metadata varchar(30000) NULL,                                                          -- 1721310882702
    organization_id uuid NULL REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT "UQ_user_details_organization_user" UNIQUE (organization_id, user_id)
);

CREATE TABLE apps (                                                                             -- 1625814801419
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar,
    slug varchar,
    user_id uuid NOT NULL,
    current_version_id uuid,
    is_public boolean,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    is_maintenance_on boolean DEFAULT false,                                                    -- 1649860649643
    icon varchar,
    creation_mode varchar DEFAULT 'DEFAULT',                                                    -- 1697017670727
    type varchar NOT NULL DEFAULT 'front-end',                                                  -- 1722437531652
    CONSTRAINT "UQ_35eef0fb1f3f2b435b8b6d82ba0" UNIQUE (slug),
    CONSTRAINT app_name_organization_id_unique UNIQUE (name, organization_id, type)             -- 1705379107714
);

CREATE TABLE data_sources (                                                                     -- 1625814801427
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id uuid NULL,                                                                           -- 1661348923786
    name varchar NOT NULL,
    options json,
    kind varchar NOT NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    organization_id uuid NULL REFERENCES organizations (id),                                    -- 1661342016413
    type "type" DEFAULT 'default',
    scope scope DEFAULT 'local',
    plugin_id uuid,
    app_version_id uuid
);

CREATE TABLE folders (                                                                          -- 1625814801422
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    type varchar DEFAULT 'front-end',
    CONSTRAINT folder_name_organization_id_unique UNIQUE (name, organization_id)
);

CREATE TABLE permission_groups (                                                                -- 1714015513342
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL,
    name varchar(50) NOT NULL,
    type group_permissions_type NOT NULL DEFAULT 'custom',
    app_create boolean DEFAULT false,
    app_delete boolean DEFAULT false,
    folder_crud boolean DEFAULT false,
    org_constant_crud boolean DEFAULT false,
    data_source_create boolean DEFAULT false,
    data_source_delete boolean DEFAULT false,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_organization_id FOREIGN KEY (organization_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT group_name_organization_id_unique UNIQUE (organization_id, name)
);

CREATE TABLE group_users (                                                                      -- 1714015541245
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    group_id uuid NOT NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT fk_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_group_id FOREIGN KEY (group_id) REFERENCES permission_groups (id) ON DELETE CASCADE,
    CONSTRAINT user_group_unique UNIQUE (user_id, group_id)
);

CREATE TABLE granular_permissions (                                                             -- 1714015564318
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

CREATE TABLE apps_group_permissions (                                                           -- 1714015596201
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    granular_permission_id uuid UNIQUE NOT NULL,
    can_edit boolean DEFAULT false,
    can_view boolean DEFAULT false,
    hide_from_dashboard boolean DEFAULT false,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT fk_granular_permission_id FOREIGN KEY (granular_permission_id)
        REFERENCES granular_permissions (id) ON DELETE CASCADE
);
CREATE INDEX idx_granular_permission_id ON apps_group_permissions (granular_permission_id);

CREATE TABLE group_apps (                                                                       -- 1714015615904
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

CREATE TABLE data_sources_group_permissions (                                                   -- 1721716375696
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    granular_permission_id uuid NULL,
    can_configure boolean DEFAULT false,
    can_use boolean DEFAULT false,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT fk_granular_permission_id FOREIGN KEY (granular_permission_id)
        REFERENCES granular_permissions (id) ON DELETE CASCADE
);
CREATE INDEX idx_ds_granular_permission_id ON data_sources_group_permissions (granular_permission_id);

CREATE TABLE group_data_sources (                                                               -- 1721716629902
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    data_source_id uuid NULL,
    data_sources_group_permissions_id uuid NULL,
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now(),
    CONSTRAINT fk_data_source_id FOREIGN KEY (data_source_id) REFERENCES data_sources (id) ON DELETE CASCADE,
    CONSTRAINT fk_data_sources_permissions_id FOREIGN KEY (data_sources_group_permissions_id)
        REFERENCES data_sources_group_permissions (id) ON DELETE CASCADE
);
