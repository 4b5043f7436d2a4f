from django.urls import path

from provisioning import views

# Under /o/<org_slug>/.
organization_patterns = [
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
]

# Fixed callbacks registered with Microsoft: the organization comes from the server-side state.
callback_patterns = [
    path("consent/callback/", views.consent_callback, name="grant_consent_callback"),
    path("identity/callback/", views.identity_callback, name="grant_identity_callback"),
]
