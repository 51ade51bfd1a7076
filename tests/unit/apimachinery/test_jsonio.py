"""JSON in and out: orjson and the stdlib fallback agree on what is valid."""

from __future__ import annotations

import pytest

from servers.apimachinery import jsonio


@pytest.fixture(params=["orjson", "stdlib"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> object:
    if request.param == "stdlib":
        monkeypatch.setattr(jsonio, "orjson", None)
    elif jsonio.orjson is None:
        pytest.fail("orjson is a runtime dependency of the default build")
    return jsonio


def test_round_trip_is_compact_utf8_in_order(codec: object) -> None:
    obj = {"b": 1, "a": [True, None, 1.5, "ü"], "c": {}}
    data = jsonio.dumps(obj)
    assert data == '{"b":1,"a":[true,null,1.5,"ü"],"c":{}}'.encode()
    assert jsonio.loads(data) == obj


@pytest.mark.parametrize("bad", [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"{", b"\xff"])
def test_malformed_input_is_a_decode_error(codec: object, bad: bytes) -> None:
    with pytest.raises(jsonio.DecodeError):
        jsonio.loads(bad)
