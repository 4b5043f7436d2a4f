"""Re-encrypt every secret stored at rest under the first of FIELD_ENCRYPTION_KEYS, so older keys can be retired."""

from collections.abc import Callable
from typing import Any

from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet, TextField, Value
from django.db.models.functions import Cast

from casportal.crypto import fernet
from grant.models import GrantAttempt
from microsoft.identity import token_cache_key
from organizations.models import Organization

BATCH_SIZE = 500
MFA_LABEL = "TOTP and recovery-code secrets"
FLOW_LABEL = "grant attempts' auth flows"

# Called with (where, token): where names the value's model, pk and field, never the value; returns what to store.
Visit = Callable[[str, str], str]
Rows = list[tuple[int, Any]]


def map_mfa_secrets(data: dict[str, Any], visit: Visit) -> dict[str, Any]:
    """A copy of an Authenticator's data with each value allauth encrypts through the MFA adapter replaced by
    visit's answer: TOTP's `secret`, recovery codes' `seed`, and `migrated_codes` (codes imported from another
    MFA package). Everything else (`used_mask`...) is kept as is."""
    data = dict(data)
    for key in ("secret", "seed"):
        if key in data:
            data[key] = visit(f"data.{key}", data[key])
    if data.get("migrated_codes") is not None:
        data["migrated_codes"] = [
            visit(f"data.migrated_codes[{i}]", code) for i, code in enumerate(data["migrated_codes"])
        ]
    return data


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret stored at rest (TOTP and recovery-code secrets, grant attempts' auth flows) under "
        "the first of FIELD_ENCRYPTION_KEYS, and drop the cached app-only token caches. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing: count the stored values still encrypted under an older key; exit 1 if any.",
        )

    def handle(self, *args: Any, check: bool, **options: Any) -> None:
        self.every = fernet()  # builds every configured key: a malformed one fails here, before any read
        self.newest = Fernet(settings.FIELD_ENCRYPTION_KEYS[0])
        kinds: list[tuple[str, Callable[[Visit, bool], int]]] = [
            (MFA_LABEL, self._authenticators),
            (FLOW_LABEL, self._grant_attempts),
        ]

        # Every value is checked before any is rewritten, so one that no key decrypts stops the command with
        # nothing written.
        self.stale: list[str] = []
        self.undecryptable: list[str] = []
        stale_per_kind = {}
        for label, each in kinds:
            before = len(self.stale)
            each(self._classify, False)
            stale_per_kind[label] = len(self.stale) - before
        if self.undecryptable:
            raise CommandError(
                f"No key in FIELD_ENCRYPTION_KEYS decrypts {', '.join(self.undecryptable)}: nothing was rewritten."
            )
        if check:
            # Token caches are not counted: one no key reads is discarded and re-acquired (identity._load_token_cache).
            for label, count in stale_per_kind.items():
                self.stdout.write(f"{label}: {count} under an older key")
            if self.stale:
                raise CommandError(
                    f"{len(self.stale)} stored values are still encrypted under an older key: "
                    "run reencrypt_secrets before retiring it."
                )
            self.stdout.write("Every stored value is encrypted under the first key: older keys may be removed.")
            return

        self.committed = 0
        for label, each in kinds:
            self.stdout.write(f"{label}: {each(self._rotate, True)} rewritten")
        self.stdout.write(f"token caches dropped: {self._drop_token_caches()}")

    def _classify(self, where: str, token: str) -> str:
        try:
            self.newest.decrypt(token.encode())
        except InvalidToken:
            try:
                self.every.decrypt(token.encode())
                self.stale.append(where)
            except InvalidToken:
                self.undecryptable.append(where)
        return token

    def _rotate(self, where: str, token: str) -> str:
        try:
            return self.every.rotate(token.encode()).decode()
        except InvalidToken:
            # Written since the check pass by a process with other keys; this batch is rolled back.
            raise CommandError(
                f"No key in FIELD_ENCRYPTION_KEYS decrypts {where}: {self.committed} values were rewritten before it "
                "(each under the first key; running the command again is safe)."
            ) from None

    def _in_batches(self, queryset: QuerySet[Any], column: str, process: Callable[[Rows], int], write: bool) -> int:
        """Hands process (pk, column) rows in pk order and returns how many values it visited. When writing, each
        batch is one transaction holding its rows' locks. A save that read a row before its batch (allauth marking
        a recovery code used) may still write the older encryption back: --check finds it, and a second run
        rewrites it."""
        total, last = 0, 0
        while True:
            with transaction.atomic():
                batch = queryset.filter(pk__gt=last).order_by("pk")
                rows: Rows = list(
                    (batch.select_for_update() if write else batch).values_list("pk", column)[:BATCH_SIZE]
                )
                visited = process(rows) if rows else 0
            if not rows:
                return total
            total += visited
            if write:
                self.committed += visited
            last = rows[-1][0]

    def _authenticators(self, visit: Visit, write: bool) -> int:
        label = Authenticator._meta.label

        def process(rows: Rows) -> int:
            visited = 0
            changed = []
            for pk, data in rows:

                def count(field: str, token: str, pk: int = pk) -> str:
                    nonlocal visited
                    visited += 1
                    return visit(f"{label} pk={pk} {field}", token)

                changed.append(Authenticator(pk=pk, data=map_mfa_secrets(data, count)))
            if write:
                Authenticator.objects.bulk_update(changed, ["data"])  # sets `data` alone
            return visited

        types = [Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
        return self._in_batches(Authenticator.objects.filter(type__in=types), "data", process, write)

    def _grant_attempts(self, visit: Visit, write: bool) -> int:
        # EncryptedTextField decrypts on read and encrypts on write. Expressions typed as a plain TextField go
        # around both: Cast reads the stored token, Value writes the rotated one, so nothing is encrypted twice.
        label = GrantAttempt._meta.label

        def process(rows: Rows) -> int:
            for pk, token in rows:
                rotated = visit(f"{label} pk={pk} auth_flow", token)
                if write:
                    GrantAttempt.objects.filter(pk=pk).update(auth_flow=Value(rotated, output_field=TextField()))
            return len(rows)

        stored = GrantAttempt.objects.annotate(stored_flow=Cast("auth_flow", TextField())).exclude(stored_flow="")
        return self._in_batches(stored, "stored_flow", process, write)

    def _drop_token_caches(self) -> int:
        # Dropped rather than re-encrypted: they live an hour at most (APP_TOKEN_CACHE_TTL) and the next token
        # request acquires a fresh token and writes its cache under the first key.
        organization_ids = Organization.objects.filter(microsoft_tenant_id__isnull=False).values_list(
            "microsoft_tenant_id", flat=True
        )
        return sum(bool(cache.delete(token_cache_key(str(organization_id)))) for organization_id in organization_ids)
