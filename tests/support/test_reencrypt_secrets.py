import datetime as dt
import json
import uuid
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import User
from casportal.crypto import encrypt_str
from directory.models import SyncMode
from grant.models import GrantAttempt
from microsoft.identity import token_cache_key
from organizations.models import Organization, ProtectedService
from support.management.commands.reencrypt_secrets import Command
from tests.accounts.test_login_and_mfa import current_code
from tests.admin.staff import TOTP_SECRET
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

KEY_A, KEY_B, KEY_C = (Fernet.generate_key().decode() for _ in range(3))
FLOW = json.dumps({"code_verifier": "pkce-verifier-plaintext", "nonce": "nonce-plaintext"})
MIGRATED_CODES = ["11111111", "22222222"]
REWRITTEN = [
    "TOTP and recovery-code secrets: 5 rewritten",  # TOTP secret; a seed; a seed and two migrated codes
    "grant attempts' auth flows: 1 rewritten",
    "token caches dropped: 0",
]


def run(*args: str) -> str:
    out = StringIO()
    call_command("reencrypt_secrets", *args, stdout=out)
    return out.getvalue()


def stored_flow(attempt: GrantAttempt) -> str:
    """The column as stored (the token), not decrypted by EncryptedTextField."""
    raw = GrantAttempt.objects.annotate(raw=Cast("auth_flow", TextField())).values_list("raw", flat=True)
    return raw.get(pk=attempt.pk)


def stored_tokens() -> list[object]:
    """Every authenticator's data and every grant attempt's auth_flow, as stored."""
    flows = GrantAttempt.objects.annotate(raw=Cast("auth_flow", TextField())).order_by("pk")
    return [list(Authenticator.objects.order_by("pk").values_list("data", flat=True)), list(flows.values_list("raw"))]


def grant_attempt(organization: Organization, user: User, auth_flow: str) -> GrantAttempt:
    service = ProtectedService.objects.filter(organization=organization).first()
    assert service is not None
    return GrantAttempt.objects.create(
        organization=organization,
        service=service,
        user=user,
        session_key_hash="0" * 64,
        sync_mode=SyncMode.ALL,
        state_hash=uuid.uuid4().hex,
        auth_flow=auth_flow,
        admin_upn="admin@contoso.test",
        expires_at=timezone.now() + dt.timedelta(minutes=10),
    )


def authenticator_columns() -> list[dict]:
    """Every column of every authenticator but the encrypted values inside `data`."""
    rows = list(Authenticator.objects.order_by("pk").values())
    for row in rows:
        row["data"] = {k: v for k, v in row["data"].items() if k not in ("secret", "seed", "migrated_codes")}
    return rows


@pytest.fixture
def under_a(settings):
    """TOTP, recovery codes (generated and migrated) and a grant attempt's flow, all written under key A."""
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    user = UserFactory.create()
    TOTP.activate(user, TOTP_SECRET)
    Authenticator.objects.filter(user=user).update(last_used_at=timezone.now())
    codes = RecoveryCodes.activate(user).generate_codes()
    migrated = Authenticator.objects.create(
        user=UserFactory.create(),
        type=Authenticator.Type.RECOVERY_CODES,
        data={
            "seed": encrypt_str("ab" * 40),
            "used_mask": 5,
            "migrated_codes": [encrypt_str(c) for c in MIGRATED_CODES],
        },
    )
    attempt = grant_attempt(OrganizationFactory.create(), user, FLOW)
    return user, codes, migrated, attempt


def test_rewrite_moves_every_secret_to_the_first_key_so_the_old_one_can_go(settings, under_a):
    user, codes, migrated, attempt = under_a
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    attempt_before = GrantAttempt.objects.filter(pk=attempt.pk).values().get()
    columns_before = authenticator_columns()
    tokens_before = stored_tokens()

    with pytest.raises(CommandError, match="6 stored values are still encrypted under an older key"):
        run("--check")
    assert stored_tokens() == tokens_before  # --check changes nothing

    assert run().splitlines() == REWRITTEN
    assert run("--check").splitlines() == [
        "TOTP and recovery-code secrets: 0 under an older key",
        "grant attempts' auth flows: 0 under an older key",
        "Every stored value is encrypted under the first key: older keys may be removed.",
    ]

    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    assert TOTP(totp).validate_code(current_code(TOTP_SECRET))
    assert RecoveryCodes(Authenticator.objects.get(user=user, type="recovery_codes")).generate_codes() == codes
    assert RecoveryCodes(Authenticator.objects.get(pk=migrated.pk)).get_unused_codes() == MIGRATED_CODES
    assert GrantAttempt.objects.get(pk=attempt.pk).auth_flow == FLOW
    # Encrypted once, under the new key (not the old token encrypted again).
    assert Fernet(KEY_B).decrypt(stored_flow(attempt).encode()).decode() == FLOW
    assert Fernet(KEY_B).decrypt(totp.data["secret"].encode()).decode() == TOTP_SECRET
    # Nothing else on the rows changed.
    assert GrantAttempt.objects.filter(pk=attempt.pk).values().get() == attempt_before
    assert authenticator_columns() == columns_before


def test_running_twice_rewrites_again_harmlessly(settings, under_a):
    user, codes, _, attempt = under_a
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    assert run().splitlines() == REWRITTEN
    first_pass = stored_tokens()
    assert run().splitlines() == REWRITTEN
    assert stored_tokens() != first_pass  # fresh tokens, same secrets

    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    run("--check")
    assert RecoveryCodes(Authenticator.objects.get(user=user, type="recovery_codes")).generate_codes() == codes
    assert GrantAttempt.objects.get(pk=attempt.pk).auth_flow == FLOW


def test_a_value_no_key_decrypts_names_its_row_and_nothing_is_rewritten(settings, under_a):
    user, *_ = under_a
    settings.FIELD_ENCRYPTION_KEYS = [KEY_C]
    lost = grant_attempt(OrganizationFactory.create(), user, "flow under a key nobody has")
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    tokens_before = stored_tokens()

    for args in [(), ("--check",)]:
        with pytest.raises(CommandError) as raised:
            run(*args)
        message = str(raised.value)
        assert f"provisioning.GrantAttempt pk={lost.pk} auth_flow" in message
        assert "nothing was rewritten" in message
        assert stored_flow(lost) not in message
        assert "nobody" not in message
        assert stored_tokens() == tokens_before


def test_token_caches_of_connected_organizations_are_dropped(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    connected = OrganizationFactory.create()
    OrganizationFactory.create()  # no Microsoft tenant: no token cache
    microsoft_id = uuid.uuid4()
    Organization.objects.filter(pk=connected.pk).update(microsoft_tenant_id=microsoft_id)
    cache.set(token_cache_key(str(microsoft_id)), encrypt_str("{}"), 3600)
    cache.set("unrelated", "kept", 3600)

    assert run().splitlines()[-1] == "token caches dropped: 1"
    assert cache.get(token_cache_key(str(microsoft_id))) is None
    assert cache.get("unrelated") == "kept"
    assert run().splitlines()[-1] == "token caches dropped: 0"


def test_a_value_turning_up_between_check_and_rewrite_stops_it_saying_how_many_were_rewritten(
    settings, under_a, monkeypatch
):
    user, *_ = under_a
    settings.FIELD_ENCRYPTION_KEYS = [KEY_C]
    lost = grant_attempt(OrganizationFactory.create(), user, "flow under a key nobody has")
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    monkeypatch.setattr(Command, "_classify", lambda _self, _where, token: token)  # as if written after the check

    with pytest.raises(CommandError) as raised:
        run()
    message = str(raised.value)
    assert f"provisioning.GrantAttempt pk={lost.pk} auth_flow" in message
    assert "5 values were rewritten before it" in message
    assert stored_flow(lost) not in message
