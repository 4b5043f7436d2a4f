"""Directory strings as PostgreSQL can store them and as the portal can show them: no NUL (PostgreSQL text cannot
hold it), no lone surrogates (not encodable as UTF-8), no bidirectional controls (a name could pose as another)."""

import re

# Each becomes U+FFFD, so wherever the value is shown it visibly differs from what Microsoft sent: lone surrogates,
# and the bidirectional formatting characters of Unicode's UAX #9, with which "zqx17 \u2067\u202eAdmin\u2069 fake"
# is shown as another name: embeddings and overrides (U+202A to U+202E), isolates (U+2066 to U+2069) and the implicit
# marks (U+200E, U+200F, U+061C).
_REPLACED = re.compile(r"[\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def clean_text(value: object, max_length: int) -> tuple[str, bool]:
    """The value as storable, unspoofable text, and whether it had to be changed to get there (truncation aside)."""
    if value is None:
        return "", False
    text = str(value)
    cleaned = _REPLACED.sub("\ufffd", text.replace("\x00", ""))
    return cleaned[:max_length], cleaned != text
