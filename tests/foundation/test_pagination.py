"""Page sizes and page tokens, shared by every list RPC."""

from __future__ import annotations

import pytest

from ironpath_common.errors import InvalidArgument
from ironpath_common.pagination import decode_page_token, encode_page_token, page_size


def test_page_size_defaults_caps_and_refuses_negatives():
    assert page_size(0, 20, 100) == 20
    assert page_size(7, 20, 100) == 7
    assert page_size(1000, 20, 100) == 100
    with pytest.raises(InvalidArgument):
        page_size(-1, 20, 100)


def test_a_token_gives_back_its_parts_as_text():
    token = encode_page_token("2026-11-26T10:00:00+00:00", 42)
    assert decode_page_token(token, 2) == ["2026-11-26T10:00:00+00:00", "42"]
    assert decode_page_token("", 2) is None


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24=", encode_page_token("one"), "W10="])
def test_a_token_that_is_not_ours_is_invalid_and_names_page_token(token):
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token, 2)
    assert raised.value.violations[0].field == "page_token"
