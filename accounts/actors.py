"""The portal user an audit actor names, for the rows that point at who made them."""

from accounts.models import User
from audit.services import Actor


def user_of(actor: Actor) -> User | None:
    """The signed-in user who acted; None for an anonymous visitor or the portal itself."""
    return actor if isinstance(actor, User) else None
