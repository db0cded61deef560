"""The one JSON spelling of a value, and its sha256: item keys, input hashes, content hashes.

Keys sorted, no spaces, so equal values always hash alike whatever their key order. NaN and
infinities have no JSON spelling and are refused; values JSON has no type for (a datetime in a
catalog row) are spelled with `str()` rather than refused.
"""

from __future__ import annotations

import hashlib
import json


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def canonical_sha256(value: object) -> str:
    """Hex sha256 of `canonical_json(value)`: what the emulator counts submits by, so a test
    can compute the same key from the input it sent."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
