"""R2 for the client: the package and its light modules import the standard library only."""

from __future__ import annotations

import pytest

from tests.unit.test_imports import THIRD_PARTY, imported_modules

LIGHT = ["servers.client", "servers.client.errors", "servers.client.resources",
         "servers.client.kubeconfig", "servers.client._wire"]


@pytest.mark.parametrize("module", LIGHT)
def test_light_modules_import_no_third_party_package(module: str) -> None:
    modules = imported_modules(f"import {module}")
    assert module in modules
    assert {m for m in modules if m.split(".")[0] in THIRD_PARTY} == set()


def test_only_rest_and_informer_bring_aiohttp() -> None:
    modules = imported_modules("import servers.client.informer")
    assert "aiohttp" not in modules  # the informer drives a Client it is given
    assert "aiohttp" in imported_modules("import servers.client.rest")
