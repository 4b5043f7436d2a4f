"""The simulator's own URLconf, served on its own origin (see m365sim.wsgi); never part of the portal's."""

from django.urls import include, path, re_path

from m365sim.views import batch, control, delta, graph, identity, index, workloads

handler404 = "m365sim.views.common.page_not_found"
handler500 = "m365sim.views.common.server_error"

ROLE_BY_TEMPLATE = r"directoryRoles\(roleTemplateId='(?P<template_id>[0-9a-fA-F-]{36})'\)"

graph_patterns = [
    path("organization", graph.organization),
    path("me", graph.me),
    path("users", graph.users),
    # /delta is a shortcut for /microsoft.graph.delta; the SDKs send the fully qualified name.
    # Use delta query to track changes in Microsoft Graph data for users: https://learn.microsoft.com/graph/delta-query-users
    re_path(r"^users/(?:microsoft\.graph\.)?delta(?:\(\))?$", delta.users_delta),
    path("users/<str:user_id>", graph.user_detail),
    path("users/<str:user_id>/memberOf", graph.user_member_of),
    path("users/<str:user_id>/mailFolders/<str:folder>", workloads.mail_folder),
    path("users/<str:user_id>/drive", workloads.user_drive),
    path("groups", graph.groups),
    re_path(r"^groups/(?:microsoft\.graph\.)?delta(?:\(\))?$", delta.groups_delta),
    path("groups/<str:group_id>", graph.group_detail),
    path("groups/<str:group_id>/members", graph.group_members),
    path("groups/<str:group_id>/transitiveMembers", graph.group_transitive_members),
    path("sites/getAllSites", workloads.all_sites),
    path("sites/<str:site_id>", workloads.site_detail),
    path("teams", workloads.teams),
    path("teams/<str:team_id>", workloads.team_detail),
    path("$batch", batch.batch),
    path("directoryRoles", graph.directory_roles),
    re_path(rf"^{ROLE_BY_TEMPLATE}$", graph.directory_role),
    re_path(rf"^{ROLE_BY_TEMPLATE}/members$", graph.directory_role_members),
    path("directoryRoles/<str:role_id>", graph.directory_role),
    path("directoryRoles/<str:role_id>/members", graph.directory_role_members),
    # Anything else: Graph's 400 "Resource not found for the segment", not an HTML 404.
    re_path(r"^(?P<path>.*)$", graph.unknown_segment),
]

urlpatterns = [
    path("", index.index),
    # Graph: https://graph.microsoft.com/v1.0/... is rerouted to /graph/v1.0/...
    path("graph/v1.0/", include(graph_patterns)),
    # The identity platform: https://login.microsoftonline.com/... is rerouted to /...
    path("common/discovery/instance", identity.instance_discovery),
    path("<str:tenant>/v2.0/.well-known/openid-configuration", identity.openid_configuration),
    path("<str:tenant>/discovery/v2.0/keys", identity.keys),
    path("<str:tenant>/v2.0/adminconsent", identity.admin_consent),
    path("<str:tenant>/adminconsent", identity.admin_consent),
    path("<str:tenant>/oauth2/v2.0/authorize", identity.authorize),
    path("<str:tenant>/oauth2/v2.0/token", identity.token),
    path("<str:tenant>/oauth2/v2.0/logout", identity.logout),
    # The control API.
    path("_m365sim/tenants/<str:tenant>", control.tenant_detail),
    path("_m365sim/tenants/<str:tenant>/faults", control.faults),
    path("_m365sim/tenants/<str:tenant>/service-principals/<str:client_id>", control.service_principal),
    path("_m365sim/tenants/<str:tenant>/directory", control.directory_change),
    path("_m365sim/tenants/<str:tenant>/access-policies", control.access_policies),
    path("_m365sim/tenants/<str:tenant>/requests", control.requests),
    path("_m365sim/tenants/<str:tenant>/delta-tokens/expire", control.expire_delta_tokens),
    path("_m365sim/applications/<str:client_id>/secrets", control.secrets),
]
