from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from coverage import display
from coverage.models import USER_SERVICES, CoverageState, ObjectCoverage, ServiceCoverage
from coverage.services import NOT_CHECKED_YET
from directory import runs
from directory.models import DirectoryUser, SelectedUser, SyncMode
from directory.ordering import natural_key
from organizations.models import ProtectedService, ServiceKind, ServiceStatus
from organizations.scoping import OrganizationRequest, organization_view, scoped, scoped_get_or_404

COVERAGE_PAGE_SIZE = 50  # rows per page, as the Directory's pages

NOT_CHECKED_YET_LABEL = "Not checked yet"


class CoverageFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100, strip=True)
    state = forms.ChoiceField(label="State", required=False, choices=())

    def __init__(self, *args: object, states: tuple[CoverageState, ...], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["state"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Every state"), *((state.value, state.label) for state in states)]


@dataclass(frozen=True)
class StateCount:
    state: str
    label: str
    count: int
    advice: display.Advice | None


def _state_counts(kind: str, summary: ServiceCoverage) -> list[StateCount]:
    """Every state of the service in its page's order, with its count, then those not checked yet, if any."""
    client_id = settings.MICROSOFT_CLIENT_ID or ""
    rows = [
        StateCount(
            state.value,
            state.label,
            int(summary.counts.get(state.value, 0)),
            display.advice(kind, state, client_id=client_id),
        )
        for state in display.states_of(kind)
    ]
    not_checked = int(summary.counts.get(NOT_CHECKED_YET, 0))
    if not_checked:
        rows.append(
            StateCount(
                NOT_CHECKED_YET,
                NOT_CHECKED_YET_LABEL,
                not_checked,
                display.advice(kind, NOT_CHECKED_YET, client_id=client_id),
            )
        )
    return rows


def _natural_page(request: OrganizationRequest, rows: QuerySet[ObjectCoverage]) -> Page:
    """A page of `rows` in reading order of their names ("user7, user9, user18"), which SQL does not sort by."""
    named = sorted(rows.values_list("pk", "name"), key=lambda row: natural_key(row[1]))
    ids: Page = Paginator([pk for pk, _ in named], COVERAGE_PAGE_SIZE).get_page(request.GET.get("page"))
    loaded = rows.in_bulk(list(ids.object_list))
    ids.object_list = [loaded[pk] for pk in ids.object_list]
    return ids


def _disabled_accounts(request: OrganizationRequest, certain: bool) -> int:
    """Disabled accounts are outside the scope of a user's service: the page says how many it leaves out."""
    disabled = scoped(request, DirectoryUser).filter(account_enabled=False)
    if certain:
        disabled = disabled.filter(microsoft_id__in=scoped(request, SelectedUser).values("microsoft_id"))
    return disabled.count()


@organization_view
@require_GET
def service_coverage(request: OrganizationRequest, service_kind: str) -> HttpResponse:
    """One service's coverage: the counts by state with each state's reason and fix, and its objects, filtered."""
    service: ProtectedService = scoped_get_or_404(request, ProtectedService, kind=service_kind)
    kind = ServiceKind(service.kind)
    summary = scoped(request, ServiceCoverage).filter(service=service).first()
    certain = runs.sync_settings_for(request.organization).mode == SyncMode.CERTAIN
    form = CoverageFilterForm(request.GET, states=display.states_of(kind))
    rows = scoped(request, ObjectCoverage).filter(service=service)
    filtered = form.is_valid() and any(form.cleaned_data.values())
    if form.is_valid():
        if form.cleaned_data["q"]:
            rows = rows.filter(name__icontains=form.cleaned_data["q"])
        if form.cleaned_data["state"]:
            rows = rows.filter(state=form.cleaned_data["state"])
    is_verified = display.verified(summary)
    singular, plural = display.SERVICE_OBJECTS[kind]
    context = {
        "service": service,
        "granted": service.status != ServiceStatus.NOT_GRANTED,
        "summary": summary,
        "verified": is_verified,
        "testing": certain,
        "singular": singular,
        "plural": plural,
        "user_service": kind in USER_SERVICES,
        "form": form,
        "filtered": filtered,
        "service_kinds": ServiceKind.choices,
    }
    if is_verified:
        assert summary is not None
        context |= {
            "figure": display.figure(kind, summary),
            "status": display.coverage_status(kind, summary, testing=certain),
            "state_counts": _state_counts(kind, summary),
            "page": _natural_page(request, rows),
            "disabled": _disabled_accounts(request, certain) if kind in USER_SERVICES else 0,
        }
    return render(request, "coverage/service_coverage.html", context, status=200 if form.is_valid() else 400)
