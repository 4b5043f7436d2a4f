"""A deterministic simulated tenant: the same arguments always give the same directory, ids included."""

import datetime as dt
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Model
from django.utils import timezone

from m365sim import directory, services
from m365sim.models import (
    Application,
    Domain,
    DriveState,
    Group,
    MailboxState,
    MemberObject,
    Membership,
    RoleAssignment,
    Site,
    Tenant,
    User,
)
from m365sim.routers import ALIAS

DEMO_PASSWORD = "m365-demo"  # noqa: S105 (the simulator's published demo password)
PORTAL_APP_NAME = "casportal"
PORTAL_CALLBACK_PATHS = ("/grant/consent/callback/", "/grant/identity/callback/")
_NAMESPACE = uuid.UUID("5b0c3c1e-6d0a-4a53-9d4e-0b6a3c1f2e7d")
_BATCH = 5000
# Of the seeded users, about 3% are disabled and 10% unlicensed.
DISABLED_SHARE = 0.03
UNLICENSED_SHARE = 0.1
# Of the licensed users, by position: a mailbox not provisioned yet (1 in 150), one hosted on-premises (1 in 150),
# and a OneDrive not provisioned yet (1 in 25); the rest have both. Microsoft 365 groups are teams but every third.
MAILBOX_PENDING_AT, MAILBOX_ON_PREMISES_AT, MAILBOX_EVERY = 7, 77, 150
DRIVE_NOT_PROVISIONED_AT, DRIVE_EVERY = 3, 25
NOT_A_TEAM_EVERY = 3
# The SharePoint sites besides the teams' (name, title); the first is the root site.
SITES = (
    ("", "Communication site"),
    ("allcompany", "All Company"),
    ("projects", "Projects"),
    ("humanresources", "Human Resources"),
    ("legalarchive", "Legal Archive"),
)
# Besides users and groups, a few members of other kinds (kind, display name, a contact's mail): every tenth group
# from the sixth on holds some of them, in turn (a tenant of fewer than six groups has none).
MEMBER_OBJECTS = (
    (MemberObject.Kind.CONTACT, "Fabrikam Sales Desk", "sales@fabrikam.example"),
    (MemberObject.Kind.CONTACT, "Litware Support", "support@litware.example"),
    (MemberObject.Kind.CONTACT, "Northwind Buyer", "buyer@northwind.example"),
    (MemberObject.Kind.DEVICE, "CONTOSO-LT-0001", ""),
    (MemberObject.Kind.DEVICE, "CONTOSO-LT-0002", ""),
    (MemberObject.Kind.DEVICE, "CONTOSO-MR-0001", ""),
    (MemberObject.Kind.SERVICE_PRINCIPAL, "Payroll Connector", ""),
    (MemberObject.Kind.SERVICE_PRINCIPAL, "Backup Agent", ""),
)

FIRST_NAMES = [
    "Adele",
    "Alex",
    "Allan",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Christie",
    "Dana",
    "Debra",
    "Diego",
    "Elena",
    "Emily",
    "Enrico",
    "Fatima",
    "Grady",
    "Hana",
    "Henrietta",
    "Irvin",
    "Isaiah",
    "Jamal",
    "Johanna",
    "Joni",
    "Jun",
    "Kenji",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Nina",
    "Omar",
    "Patti",
    "Pradeep",
    "Priya",
    "Raul",
    "Sakura",
    "Sofia",
    "Tom",
    "Uma",
    "Victor",
    "Wei",
    "Yara",
    "Zoe",
]
LAST_NAMES = [
    "Adams",
    "Bauer",
    "Chan",
    "Cruz",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Gupta",
    "Hall",
    "Ito",
    "Jensen",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Martin",
    "Meyer",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Sato",
    "Schmidt",
    "Silva",
    "Smith",
    "Tanaka",
    "Vargas",
    "Wagner",
    "Wilson",
    "Young",
    "Zhang",
]
JOB_TITLES = [
    "Accountant",
    "Analyst",
    "Architect",
    "Designer",
    "Developer",
    "Engineer",
    "Manager",
    "Marketing",
    "Sales",
    "Support",
    "Director",
]
GROUP_WORDS = [
    "Finance",
    "Sales",
    "Marketing",
    "Engineering",
    "Legal",
    "Research",
    "Support",
    "Operations",
    "Design",
    "Product",
    "Security",
    "Facilities",
    "Procurement",
    "Training",
    "Leadership",
    "Retail",
    "Logistics",
    "Partners",
    "Compliance",
    "Quality",
]


@dataclass(frozen=True)
class SeedResult:
    tenant: Tenant
    users: int
    groups: int
    memberships: int
    member_objects: int


def _insert_new(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """Bulk insert, skipping rows that exist (a re-run); plain SQL, as model instances would take minutes at 100k."""
    if not rows:
        return
    connection = connections[ALIAS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in rows[0])  # type: ignore[union-attr,arg-type]
    placeholders = ", ".join(["%s"] * len(rows[0]))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"  # noqa: S608  # nosec B608  # names from the model's metadata, quoted; values bound
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _BATCH):
            cursor.executemany(sql, [tuple(row.values()) for row in rows[start : start + _BATCH]])


def _uuid(*parts: object) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts))


@transaction.atomic(using=ALIAS)
def seed_tenant(slug: str, *, users: int, groups: int, members_per_group: int, seed: int = 0) -> SeedResult:
    tenant, _ = Tenant.objects.get_or_create(id=_uuid(slug), defaults={"slug": slug, "display_name": slug.title()})
    initial_domain = f"{slug}.onmicrosoft.com"
    Domain.objects.get_or_create(
        name=initial_domain, defaults={"tenant": tenant, "is_initial": True, "is_default": True}
    )
    Domain.objects.get_or_create(name=f"{slug}.com", defaults={"tenant": tenant})

    _seed_named_users(tenant, initial_domain)
    connection = connections[ALIAS]
    as_uuid = (lambda u: u) if connection.features.has_native_uuid_field else (lambda u: u.hex)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    licensed, unlicensed = json.dumps([directory.SKU_ENTERPRISEPACK]), json.dumps([])

    rng = random.Random(f"{slug}:{seed}:users")  # noqa: S311 (deterministic test data)
    user_ids = [_uuid(slug, seed, "user", i) for i in range(users)]
    user_rows = []
    for i, user_id in enumerate(user_ids):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        upn = f"{first}.{last}{i}@{initial_domain}".lower()
        user_rows.append(
            {
                "id": as_uuid(user_id),
                "tenant_id": as_uuid(tenant.id),
                "display_name": f"{first} {last}",
                "created_at": now,
                "version": 0,
                "hard_deleted": False,
                "property_versions": "{}",
                "user_principal_name": upn,
                "mail": upn,
                "given_name": first,
                "surname": last,
                "job_title": rng.choice(JOB_TITLES),
                "account_enabled": rng.random() > DISABLED_SHARE,
                "assigned_licenses": licensed if rng.random() > UNLICENSED_SHARE else unlicensed,
                "password": "",
                "mailbox": _mailbox_state(i),
                "mailbox_ready_at": None,
                "drive": DriveState.NOT_PROVISIONED if i % DRIVE_EVERY == DRIVE_NOT_PROVISIONED_AT else DriveState.AUTO,
            }
        )
    _insert_new(User, user_rows)

    rng = random.Random(f"{slug}:{seed}:groups")  # noqa: S311
    group_ids = [_uuid(slug, seed, "group", j) for j in range(groups)]
    group_rows = []
    for j, group_id in enumerate(group_ids):
        name = f"{rng.choice(GROUP_WORDS)} {j + 1}"
        kind = rng.choice(("security", "security", "unified", "distribution"))
        nickname = name.lower().replace(" ", "-")
        group_rows.append(
            {
                "id": as_uuid(group_id),
                "tenant_id": as_uuid(tenant.id),
                "display_name": name,
                "created_at": now,
                "version": 0,
                "hard_deleted": False,
                "property_versions": "{}",
                "description": f"{name} team",
                "mail": f"{nickname}@{initial_domain}" if kind != "security" else "",
                "mail_nickname": nickname,
                "mail_enabled": kind != "security",
                "security_enabled": kind != "distribution",
                "group_types": json.dumps(["Unified"] if kind == "unified" else []),
                "is_team": kind == "unified" and j % NOT_A_TEAM_EVERY != NOT_A_TEAM_EVERY - 1,
            }
        )
    _insert_new(Group, group_rows)
    _insert_new(Site, _site_rows(tenant, group_rows, as_uuid, now))

    rng = random.Random(f"{slug}:{seed}:members")  # noqa: S311
    pairs: list[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]] = [
        (group_id, user_ids[index], None)
        for group_id in group_ids
        for index in rng.sample(range(users), min(members_per_group, users))
    ]
    # Nesting: every tenth group contains the one before it (group → group).
    pairs += [(group_ids[j], None, group_ids[j - 1]) for j in range(10, groups, 10)]
    object_rows, object_pairs = _member_objects(slug, tenant, group_ids, as_uuid, now)
    _insert_new(MemberObject, object_rows)
    _insert_new(
        Membership,
        [
            {
                "group_id": as_uuid(group_id),
                "member_user_id": user_id and as_uuid(user_id),
                "member_group_id": member_group_id and as_uuid(member_group_id),
                "member_object_id": None,
                "version": 0,
                "removed": False,
            }
            for group_id, user_id, member_group_id in pairs
        ]
        + [
            {
                "group_id": as_uuid(group_id),
                "member_user_id": None,
                "member_group_id": None,
                "member_object_id": as_uuid(object_id),
                "version": 0,
                "removed": False,
            }
            for group_id, object_id in object_pairs
        ],
    )

    seed_portal_application()
    return SeedResult(
        tenant=tenant,
        users=User.objects.filter(tenant=tenant).count(),
        groups=Group.objects.filter(tenant=tenant).count(),
        memberships=Membership.objects.filter(group__tenant=tenant).count(),
        member_objects=MemberObject.objects.filter(tenant=tenant).count(),
    )


def _mailbox_state(index: int) -> str:
    position = index % MAILBOX_EVERY
    if position == MAILBOX_PENDING_AT:
        return MailboxState.PENDING
    return MailboxState.ON_PREMISES if position == MAILBOX_ON_PREMISES_AT else MailboxState.AUTO


def _site_rows(
    tenant: Tenant, group_rows: list[dict[str, Any]], as_uuid: Callable[[uuid.UUID], Any], now: Any
) -> list[dict[str, Any]]:
    """The root site and a few communication sites, and each team's site."""
    host = f"https://{tenant.slug}.sharepoint.com"
    named = [
        (name or "root", name or "root", title, host + (f"/sites/{name}" if name else ""), None)
        for name, title in SITES
    ]
    teams = [
        (
            f"group:{uuid.UUID(str(row['id']))}",
            row["mail_nickname"],
            row["display_name"],
            f"{host}/sites/{row['mail_nickname']}",
            row["id"],
        )
        for row in group_rows
        if row["is_team"]
    ]
    return [
        {
            "id": services.site_id(tenant, key),
            "tenant_id": as_uuid(tenant.id),
            "name": name,
            "display_name": title,
            "web_url": url,
            "created_at": now,
            "group_id": group_id,
        }
        for key, name, title, url, group_id in named + teams
    ]


def _member_objects(
    slug: str, tenant: Tenant, group_ids: list[uuid.UUID], as_uuid: Callable[[uuid.UUID], Any], now: Any
) -> tuple[list[dict[str, Any]], list[tuple[uuid.UUID, uuid.UUID]]]:
    """The contacts, devices and service principals, each a member of one of the groups that hold them."""
    holders = group_ids[5::10]
    if not holders:
        return [], []
    rows, pairs = [], []
    for number, (kind, name, mail) in enumerate(MEMBER_OBJECTS):
        object_id = _uuid(slug, "object", number)
        rows.append(
            {
                "id": as_uuid(object_id),
                "tenant_id": as_uuid(tenant.id),
                "display_name": name,
                "created_at": now,
                "version": 0,
                "hard_deleted": False,
                "property_versions": "{}",
                "kind": kind,
                "mail": mail,
                "device_id": as_uuid(_uuid(slug, "device", number)) if kind == MemberObject.Kind.DEVICE else None,
                "app_id": as_uuid(_uuid(slug, "app", number)) if kind == MemberObject.Kind.SERVICE_PRINCIPAL else None,
            }
        )
        pairs.append((holders[number % len(holders)], object_id))
    return rows, pairs


def _seed_named_users(tenant: Tenant, domain: str) -> None:
    """The demo's sign-in accounts: a Global Administrator, a Privileged Role Administrator and a regular user."""
    people = (
        ("admin", "MOD Administrator", directory.GLOBAL_ADMINISTRATOR),
        ("pra", "Pat Role-Admin", directory.PRIVILEGED_ROLE_ADMINISTRATOR),
        ("alex", "Alex Wilber", None),
    )
    for alias, name, role in people:
        upn = f"{alias}@{domain}"
        user, created = User.objects.get_or_create(
            id=_uuid(tenant.slug, "named", alias),
            defaults={
                "tenant": tenant,
                "user_principal_name": upn,
                "mail": upn,
                "display_name": name,
                "assigned_licenses": [directory.SKU_ENTERPRISEPACK],
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if role:
            RoleAssignment.objects.get_or_create(user=user, role_template_id=role)


def seed_portal_application() -> Application:
    """The portal's app registration, matching its MICROSOFT_CLIENT_ID / _SECRET settings."""
    hosts = {settings.PORTAL_BASE_URL, "http://127.0.0.1:8000", "http://localhost:8000"}
    wanted = {f"{host}{path}" for host in hosts for path in PORTAL_CALLBACK_PATHS}
    # Seeding another tenant adds this portal's callbacks and keeps the ones registered before (another PORT),
    # and keeps a switch set since (tokens without wids): the registration is shared by every tenant.
    registered = Application.objects.filter(pk=str(settings.MICROSOFT_CLIENT_ID)).first()
    application, _ = Application.objects.update_or_create(
        client_id=settings.MICROSOFT_CLIENT_ID,
        defaults={
            "display_name": PORTAL_APP_NAME,
            "redirect_uris": sorted(wanted | set(registered.redirect_uris if registered else ())),
            "application_permissions": list(directory.APPLICATION_PERMISSIONS),
            "delegated_permissions": list(directory.DELEGATED_PERMISSIONS),
        },
        create_defaults={
            "display_name": PORTAL_APP_NAME,
            "redirect_uris": sorted(wanted),
            "application_permissions": list(directory.APPLICATION_PERMISSIONS),
            "delegated_permissions": list(directory.DELEGATED_PERMISSIONS),
            "emit_wids": True,
        },
    )
    expires_on = settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON
    expires_at = (
        dt.datetime.combine(dt.date.fromisoformat(expires_on), dt.time(), tzinfo=dt.UTC)
        if expires_on
        else timezone.now() + dt.timedelta(days=730)
    )
    raw_secret = settings.MICROSOFT_CLIENT_SECRET or ""
    secret = next((s for s in application.secrets.all() if s.matches(raw_secret)), None)
    if secret is None:
        services.set_secret(application, raw_secret, expires_at=expires_at)
    elif secret.expired:  # a re-seed restores a healthy demo
        secret.expires_at = expires_at
        secret.save(update_fields=["expires_at"])
    return application
