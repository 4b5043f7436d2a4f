"""The errors every Microsoft client raises. Callers catch the named ones they act on, then `MicrosoftError`
for the rest."""


class MicrosoftError(Exception):
    """Something went wrong talking to Microsoft; `code` is the AADSTS number or Graph's error code."""

    def __init__(self, message: str, *, code: int | str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status

    @property
    def code_label(self) -> str:
        """The code as Microsoft writes it: AADSTS7000229, or Graph's Authorization_RequestDenied ("" without)."""
        return f"AADSTS{self.code}" if isinstance(self.code, int) else (self.code or "")

    @property
    def answer(self) -> str:
        """Microsoft's answer in its own words, led by its code."""
        label = self.code_label
        return self.message if not label or self.message.startswith(label) else f"{label}: {self.message}"


class ConsentRevoked(MicrosoftError):
    """The customer's consent is broken: revoked, or the service principal deleted or disabled in their tenant."""


class PermissionMissing(ConsentRevoked):
    """Graph refused an operation (403): the consent lacks a permission, or has been withdrawn."""


class ServicePrincipalMissing(ConsentRevoked):
    """The token endpoint knows no service principal of the portal in the tenant (AADSTS7000229, 700016): deleted or
    never consented, or, right after a consent, not yet replicated to where the token endpoint looks."""


class AppCredentialInvalid(MicrosoftError):
    """The portal's own client secret is wrong or expired (AADSTS7000215, 7000222): no customer can fix it."""


class TransientError(MicrosoftError):
    """Try again later: a timeout, a connection failure, a 5xx."""


class Throttled(TransientError):
    def __init__(
        self, message: str, *, retry_after: float, code: int | str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class DeltaTokenExpired(MicrosoftError):
    """The deltaLink is too old (about seven days) or unknown: start a full round again."""


class GraphError(MicrosoftError):
    """Any other error Graph answered."""


class NotFound(GraphError):
    """Graph has no such object (404)."""


class PageTokenExpired(GraphError):
    """A nextLink's $skiptoken outlived its (undocumented) lifetime: 400 Directory_ExpiredPageToken. The listing
    cannot go on from there; read it again from its start."""


class IdentityError(MicrosoftError):
    """Any other error the identity platform answered (a replayed or expired code, for instance)."""


class SignInFailed(MicrosoftError):
    """A browser leg (consent or sign-in) came back without what the portal asked for."""


class ConsentDeclined(SignInFailed):
    """The administrator pressed Cancel, or could not grant consent (not an administrator)."""


class InteractionRequired(SignInFailed):
    """`prompt=none` could not sign the admin in silently: repeat the leg interactively."""


class InvalidState(SignInFailed):
    """The callback's state is not the one the portal sent: forged, replayed or from another browser."""


class TenantMismatch(SignInFailed):
    """The administrator signed in to another tenant than the one that consented."""
