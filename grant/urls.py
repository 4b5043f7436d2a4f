from django.urls import path

from grant import views

# Under /o/<org_slug>/.
organization_patterns = [
    path("service-status/", views.service_status, name="service_status"),
    path("services/<str:service_kind>/grant/", views.grant_start, name="grant_start"),
    path("services/<str:service_kind>/grant/cancel/", views.grant_cancel, name="grant_cancel"),
    path("services/<str:service_kind>/grant/resume/", views.grant_resume, name="grant_resume"),
    path("services/<str:service_kind>/grant/<uuid:attempt_id>/", views.grant_status, name="grant_status"),
    path("services/<str:service_kind>/progress/retry/", views.sync_retry, name="sync_retry"),
    path("services/<str:service_kind>/remove/", views.service_remove, name="service_remove"),
]

# Fixed callbacks registered with Microsoft: the organization comes from the server-side state.
callback_patterns = [
    path("consent/callback/", views.consent_callback, name="grant_consent_callback"),
    path("identity/callback/", views.identity_callback, name="grant_identity_callback"),
]
