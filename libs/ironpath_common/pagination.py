"""List pagination (AIP-158): page sizes, and opaque page tokens carrying the last row's key."""

from __future__ import annotations

import base64
import binascii
import json

from ironpath_common.errors import InvalidArgument

NOT_OURS = "is not a page token this service issued"


def page_size(value: int, default: int, maximum: int) -> int:
    """0 means the default; more than the maximum is held to it; negative is invalid."""
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(value or default, maximum)


def encode_page_token(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(p) for p in parts]).encode()).decode()


def decode_page_token(token: str, size: int) -> list[str] | None:
    """The parts `encode_page_token` was given (as text); None for no token."""
    if not token:
        return None
    try:
        parts = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise InvalidArgument("page_token", NOT_OURS) from None
    if not isinstance(parts, list) or len(parts) != size or not all(isinstance(p, str) for p in parts):
        raise InvalidArgument("page_token", NOT_OURS)
    return parts
