from django.urls import path

from organizations import views

organization_patterns = [
    path("", views.dashboard, name="dashboard"),
    path("policies/", views.policies, name="policies"),
    path("policies/<uuid:policy_id>/toggle/", views.policy_toggle, name="policy_toggle"),
    path("activity/", views.activity, name="activity"),
    path("members/", views.members, name="members"),
    path("members/invite/", views.member_invite, name="member_invite"),
    path("members/<uuid:member_id>/role/", views.member_role, name="member_role"),
    path("members/<uuid:member_id>/remove/", views.member_remove, name="member_remove"),
    path("invitations/<uuid:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
]
