from django.contrib import admin
from django.http import HttpRequest

from grant.models import GrantAttempt
from support import actions as support
from support.admin_base import ReadOnlyAdmin
from support.staff import support_action


def cancel_stuck_grant(attempt: GrantAttempt, request: HttpRequest, reason: str) -> str:
    support.cancel_stuck_grant(attempt=attempt, actor=request.user, reason=reason)
    return "grant cancelled."


@admin.register(GrantAttempt)
class GrantAttemptAdmin(ReadOnlyAdmin):
    list_display = ["service", "organization", "user", "step", "admin_upn", "created_at", "expires_at", "finished_at"]
    list_filter = ["step", "created_at"]
    search_fields = ["organization__name", "organization__slug", "user__email", "admin_upn"]
    list_select_related = ["service", "service__organization", "organization", "user"]
    exclude = ["state_hash", "session_key_hash", "auth_flow"]
    actions = [support_action("Cancel a stuck grant attempt", cancel_stuck_grant)]
