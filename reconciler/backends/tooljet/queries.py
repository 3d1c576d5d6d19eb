"""The bulk SELECTs of the ToolJet reader, one per table, shaped by the schema variant.

Stage: storage. Each query reads one table for every declared workspace at once (``= ANY(:ids)``), so a plan
costs the same handful of round trips for ten members or ten thousand. Columns come back as plain text and
booleans (uuids cast to text, enums to text, NULL flags as false) so the rows can be fingerprinted as they are.
"""

from __future__ import annotations

from .flags import mapped_columns, unmapped_flag_columns
from .variant import ENV_ACCESS_COLUMNS, Variant

IN_ORGS = "= ANY(CAST(:ids AS uuid[]))"
_GRANULAR_JOIN = (
    "JOIN granular_permissions gp ON gp.id = {child}.granular_permission_id "
    "JOIN permission_groups g ON g.id = gp.group_id"
)


def users_query(variant: Variant) -> str:
    """Every user of the instance, with what ToolJet's seat count needs: the status and whether a super admin."""
    super_admin = "u.user_type::text = 'instance'" if variant.has("users", "user_type") else "false"
    return (
        "SELECT u.id::text, lower(u.email), coalesce(u.first_name, ''), coalesce(u.last_name, ''), u.status::text, "
        f"coalesce({super_admin}, false) FROM users u WHERE u.email IS NOT NULL ORDER BY u.created_at, u.id"
    )


def workspaces_query(variant: Variant) -> str:
    """The declared workspaces, and whether each is the instance's default (``organizations.is_default``, from
    migration 1740401000000 on; ToolJet refuses to archive it)."""
    default = "coalesce(o.is_default, false)" if variant.has("organizations", "is_default") else "false"
    return (
        f"SELECT o.id::text, o.slug, coalesce(o.name, ''), o.status::text, {default} FROM organizations o "
        "WHERE o.slug = ANY(CAST(:slugs AS varchar[]))"
    )


ALL_SLUGS = "SELECT slug FROM organizations WHERE slug IS NOT NULL ORDER BY slug"


def workspace_queries(variant: Variant) -> dict[str, str]:
    """Name of the ``_Rows`` field -> SQL reading it for the organizations in ``:ids``."""
    return {
        "apps": _apps(variant),
        "data_sources": _data_sources(variant),
        "groups": _groups(variant),
        "granular": (
            "SELECT gp.id::text, gp.group_id::text, gp.name, gp.type::text, coalesce(gp.is_all, true), "
            "coalesce(gp.created_at::text, '') FROM granular_permissions gp "
            f"JOIN permission_groups g ON g.id = gp.group_id WHERE g.organization_id {IN_ORGS}"
        ),
        "app_children": _app_children(variant),
        "app_targets": (
            "SELECT ga.apps_group_permissions_id::text, ap.slug, ap.id::text, ap.name FROM group_apps ga "
            "JOIN apps ap ON ap.id = ga.app_id JOIN apps_group_permissions a ON a.id = ga.apps_group_permissions_id "
            f"{_GRANULAR_JOIN.format(child='a')} WHERE g.organization_id {IN_ORGS}"
        ),
        "data_source_children": (
            "SELECT d.id::text, d.granular_permission_id::text, coalesce(d.can_configure, false), "
            "coalesce(d.can_use, false) FROM data_sources_group_permissions d "
            f"{_GRANULAR_JOIN.format(child='d')} WHERE g.organization_id {IN_ORGS} AND gp.type::text = 'data_source'"
        ),
        "data_source_targets": (
            "SELECT x.data_sources_group_permissions_id::text, ds.name FROM group_data_sources x "
            "JOIN data_sources ds ON ds.id = x.data_source_id "
            "JOIN data_sources_group_permissions d ON d.id = x.data_sources_group_permissions_id "
            f"{_GRANULAR_JOIN.format(child='d')} WHERE g.organization_id {IN_ORGS}"
        ),
        "memberships": (
            "SELECT ou.organization_id::text, ou.id::text, ou.user_id::text, ou.status::text "
            f"FROM organization_users ou WHERE ou.organization_id {IN_ORGS}"
        ),
        "group_users": (
            "SELECT g.organization_id::text, gu.user_id::text, gu.group_id::text FROM group_users gu "
            f"JOIN permission_groups g ON g.id = gu.group_id WHERE g.organization_id {IN_ORGS}"
        ),
        "sso_members": _sso_members(variant),
        "app_owners": (
            # Every app of the workspace, whatever its type: ToolJet's role change looks for
            # ``manager.find(App, {userId, organizationId})`` (server/src/modules/roles/util.service.ts).
            "SELECT a.organization_id::text, a.user_id::text, coalesce(a.name, a.slug, a.id::text) FROM apps a "
            f"WHERE a.organization_id {IN_ORGS} AND a.user_id IS NOT NULL ORDER BY 1, 2, 3"
        ),
        "metadata": (
            "SELECT ud.organization_id::text, ud.user_id::text, ud.user_metadata FROM user_details ud "
            f"WHERE ud.organization_id {IN_ORGS} AND ud.user_metadata IS NOT NULL AND ud.user_metadata <> ''"
        ),
    }


def _apps(variant: Variant) -> str:
    """Front-end apps only: workflows and modules are apps too, but granular app grants never name them. Apps
    without a slug (or name) are read too: ToolJet's v2 external API creates them, and grants them (issue 16)."""
    only_front_end = " AND a.type = 'front-end'" if variant.has("apps", "type") else ""
    return (
        "SELECT a.organization_id::text, a.id::text, a.slug, a.name FROM apps a "
        f"WHERE a.organization_id {IN_ORGS}{only_front_end}"
    )


def _data_sources(variant: Variant) -> str:
    """Workspace-level data sources (global scope, not the built-in static ones), oldest first."""
    scope = " AND d.scope::text = 'global'" if variant.has("data_sources", "scope") else ""
    kind = " AND d.type::text <> 'static'" if variant.has("data_sources", "type") else ""
    order = "d.created_at, d.id" if variant.has("data_sources", "created_at") else "d.id"
    return (
        "SELECT d.organization_id::text, d.id::text, d.name FROM data_sources d "
        f"WHERE d.organization_id {IN_ORGS}{scope}{kind} ORDER BY {order}"
    )


def _groups(variant: Variant) -> str:
    """Every boolean column: the mapped ones first, then the others (builder-level when true)."""
    columns = (*mapped_columns(variant), *unmapped_flag_columns(variant))
    flags = ", ".join(f"coalesce(g.{column}, false)" for column in columns)
    return (
        f"SELECT g.organization_id::text, g.id::text, g.name, g.type::text, {flags} FROM permission_groups g "
        f"WHERE g.organization_id {IN_ORGS}"
    )


def _app_children(variant: Variant) -> str:
    front_end = " AND a.app_type::text = 'front-end'" if variant.has("apps_group_permissions", "app_type") else ""
    # then the environments other than released (development, staging, production), where the schema has them
    envs = "".join(f", coalesce(a.{c}, false)" for c in ENV_ACCESS_COLUMNS[:3]) if variant.env_access else ""
    return (
        "SELECT a.id::text, a.granular_permission_id::text, coalesce(a.can_edit, false), "
        f"coalesce(a.can_view, false), coalesce(a.hide_from_dashboard, false){envs} FROM apps_group_permissions a "
        f"{_GRANULAR_JOIN.format(child='a')} WHERE g.organization_id {IN_ORGS} AND gp.type::text = 'app'{front_end}"
    )


SSO_SOURCES = ("google", "git", "openid", "ldap", "saml")  # ToolJet's SOURCE values that are sign-ins (lifecycle.ts)


def _sso_members(variant: Variant) -> str:
    """Members that joined by single sign-on (issue 17): the account's ``users.source`` is an SSO provider
    (``USER_SSO_VERIFY`` stores it, users/constants/lifecycle.ts), or the membership's ``user_details`` holds
    the SSO profile (``sso_user_info``). Rows: organization id, user id, source (NULL when only the profile
    shows it)."""
    has_source, has_info = variant.has("users", "source"), variant.has("user_details", "sso_user_info")
    if not (has_source or has_info):
        return "SELECT NULL::text, NULL::text, NULL::text WHERE false"
    sources = ", ".join(f"'{name}'" for name in SSO_SOURCES)
    source = f"CASE WHEN u.source::text IN ({sources}) THEN u.source::text END" if has_source else "NULL::text"
    tests = [f"u.source::text IN ({sources})"] if has_source else []
    tests += ["ud.sso_user_info IS NOT NULL"] if has_info else []
    return (
        f"SELECT ou.organization_id::text, ou.user_id::text, {source} FROM organization_users ou "
        "JOIN users u ON u.id = ou.user_id LEFT JOIN user_details ud ON ud.user_id = ou.user_id AND "
        f"ud.organization_id = ou.organization_id WHERE ou.organization_id {IN_ORGS} AND ({' OR '.join(tests)})"
    )
