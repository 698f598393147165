"""Russian taxpayer numbers (ИНН) with correct check digits.

Seeded counterparties carry ИНН that pass the Federal Tax Service checksum, so a
bridge that validates ИНН (as intake's customer matching may) accepts the demo data.
"""

from __future__ import annotations

import random

__all__ = ["random_inn10", "random_inn12", "valid_inn"]


def random_inn10(rnd: random.Random, region: str) -> str:
    """A 10-digit organisation ИНН with a correct check digit."""
    digits = [int(c) for c in region] + [rnd.randrange(10) for _ in range(7)]
    check = sum(w * d for w, d in zip((2, 4, 10, 3, 5, 9, 4, 6, 8), digits, strict=True)) % 11 % 10
    return "".join(map(str, digits + [check]))


def random_inn12(rnd: random.Random, region: str) -> str:
    """A 12-digit individual ИНН with both check digits correct."""
    digits = [int(c) for c in region] + [rnd.randrange(10) for _ in range(8)]
    first = sum(w * d for w, d in zip((7, 2, 4, 10, 3, 5, 9, 4, 6, 8), digits, strict=True)) % 11 % 10
    digits.append(first)
    second = sum(w * d for w, d in zip((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8), digits,
                                        strict=True)) % 11 % 10
    return "".join(map(str, digits + [second]))


def valid_inn(inn: str) -> bool:
    """True when an ИНН (10 or 12 digits) has correct control digits."""
    if not inn.isdigit() or len(inn) not in (10, 12):
        return False
    digits = [int(c) for c in inn]
    if len(inn) == 10:
        weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
        return sum(w * d for w, d in zip(weights, digits, strict=False)) % 11 % 10 == digits[9]
    first = sum(w * d for w, d in zip((7, 2, 4, 10, 3, 5, 9, 4, 6, 8), digits, strict=False))
    second = sum(w * d for w, d in zip((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8), digits, strict=False))
    return first % 11 % 10 == digits[10] and second % 11 % 10 == digits[11]
