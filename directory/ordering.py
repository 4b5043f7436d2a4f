"""Names in the order a person reads them: numbers by value ("Training 7, 9, 18"), letters whatever their case."""

import re
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

_NUMBER = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that compares the runs of digits of `text` as numbers and the rest case-insensitively."""
    parts = _NUMBER.split(text.casefold())
    # (0, text) and (1, number) alternate, so a number never compares with text.
    return tuple((1, int(part)) if index % 2 else (0, part) for index, part in enumerate(parts))


def naturally_sorted(items: Iterable[T], *names: Callable[[T], str]) -> list[T]:
    """`items` sorted by each of `names` in turn, naturally."""
    return sorted(items, key=lambda item: tuple(natural_key(name(item)) for name in names))
