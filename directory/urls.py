from django.urls import path

from directory import views

# Under /o/<org_slug>/.
organization_patterns = [
    path("services/<str:service_kind>/users/", views.selected_users, name="selected_users"),
    path("services/<str:service_kind>/users/add/", views.selected_user_add, name="selected_user_add"),
    path(
        "services/<str:service_kind>/users/add-from-group/",
        views.selected_users_add_from_group,
        name="selected_users_add_from_group",
    ),
    path(
        "services/<str:service_kind>/users/add-found/",
        views.selected_users_add_found,
        name="selected_users_add_found",
    ),
    path(
        "services/<str:service_kind>/users/<uuid:selected_id>/remove/",
        views.selected_user_remove,
        name="selected_user_remove",
    ),
    path("services/<str:service_kind>/users/start/", views.selected_users_start, name="selected_users_start"),
    path("services/<str:service_kind>/progress/", views.sync_progress, name="sync_progress"),
    path("sync-runs/<uuid:run_id>/", views.sync_run_progress, name="sync_run_progress"),
    path("sync-now/", views.sync_now, name="sync_now"),
    path("extend-to-all-users/", views.extend_to_all_users, name="extend_to_all_users"),
    path("sync-history/", views.sync_history, name="sync_history"),
    path("directory/", views.directory_users, name="directory_users"),
    path("directory/groups/", views.directory_groups, name="directory_groups"),
    path("directory/groups/<uuid:group_id>/", views.directory_group, name="directory_group"),
]
