"""CSV export of audit events, streamed row by row, capped like the anchor product's (10,000 per export)."""

import csv
import json
from collections.abc import Iterator
from datetime import UTC

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from audit.models import AuditEvent

EXPORT_LIMIT = 10_000
COLUMNS = ["time (UTC)", "organization", "actor", "action", "target", "IP address", "user agent", "details"]


# A cell starting with one of these is a formula to a spreadsheet; targets can come from anyone (a failed login).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


class _Echo:
    """A file-like object whose `write` returns the line, for csv.writer to produce chunks."""

    def write(self, value: str) -> str:
        return value


def _rows(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    labels = dict(AuditEvent._meta.get_field("action").flatchoices)
    for occurred_at, organization, actor, action, target, ip, agent, details in events.values_list(
        "occurred_at", "organization__slug", "actor_email", "action", "target", "ip_address", "user_agent", "details"
    )[:EXPORT_LIMIT].iterator(chunk_size=1000):
        yield writer.writerow(
            [
                occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                organization or "",
                _cell(actor),
                labels.get(action, action),
                _cell(target),
                ip or "",
                _cell(agent),
                _cell(json.dumps(details, sort_keys=True)),
            ]
        )


def csv_response(events: QuerySet[AuditEvent]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_rows(events), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.csv"'
    return response
