from django.urls import path

from provisioning import views

# Under /o/<org_slug>/.
organization_patterns = [
    path("service-status/", views.service_status, name="service_status"),
    path("services/<str:service_kind>/grant/", views.grant_start, name="grant_start"),
    path("services/<str:service_kind>/grant/cancel/", views.grant_cancel, name="grant_cancel"),
    path("services/<str:service_kind>/grant/<uuid:attempt_id>/", views.grant_status, name="grant_status"),
    path("services/<str:service_kind>/users/", views.selected_users, name="selected_users"),
    path("services/<str:service_kind>/users/add/", views.selected_user_add, name="selected_user_add"),
    path(
        "services/<str:service_kind>/users/add-from-group/",
        views.selected_users_add_from_group,
        name="selected_users_add_from_group",
    ),
    path(
        "services/<str:service_kind>/users/<uuid:selected_id>/remove/",
        views.selected_user_remove,
        name="selected_user_remove",
    ),
    path("services/<str:service_kind>/users/start/", views.selected_users_start, name="selected_users_start"),
    path("services/<str:service_kind>/progress/", views.sync_progress, name="sync_progress"),
    path("services/<str:service_kind>/progress/retry/", views.sync_retry, name="sync_retry"),
    path("services/<str:service_kind>/remove/", views.service_remove, name="service_remove"),
    path("sync-now/", views.sync_now, name="sync_now"),
    path("extend-to-all-users/", views.extend_to_all_users, name="extend_to_all_users"),
    path("sync-history/", views.sync_history, name="sync_history"),
    path("directory/", views.directory_users, name="directory_users"),
    path("directory/groups/", views.directory_groups, name="directory_groups"),
    path("directory/groups/<uuid:group_id>/", views.directory_group, name="directory_group"),
]

# Fixed callbacks registered with Microsoft: the organization comes from the server-side state.
callback_patterns = [
    path("consent/callback/", views.consent_callback, name="grant_consent_callback"),
    path("identity/callback/", views.identity_callback, name="grant_identity_callback"),
]
