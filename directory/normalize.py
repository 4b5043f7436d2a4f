"""Directory strings as PostgreSQL can store them: no NUL (PostgreSQL text cannot hold it), no lone surrogates
(not encodable as UTF-8)."""

import re

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(value: object, max_length: int) -> tuple[str, bool]:
    """The value as storable text, and whether it had to be changed to get there (truncation aside)."""
    if value is None:
        return "", False
    text = str(value)
    cleaned = _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))
    return cleaned[:max_length], cleaned != text
