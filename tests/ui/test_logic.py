"""The web view's page logic, run by headless Chromium from the ES modules themselves.

logic.test.js imports servers/ui/static/js/* as the page does; each of its tests is one
pytest test here (the names are read from the file). A tiny loopback HTTP server serves the
static folder at /static/ and this folder at /test/ (ES modules need an http origin).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.wait import until
from tests.ui.browser import PAGE_POLL, STALE, chromium, console_errors

HERE = Path(__file__).resolve().parent
STATIC = HERE.parents[1] / "servers" / "ui" / "static"
NAMES = re.findall(r'^test\("([^"]+)"', (HERE / "logic.test.js").read_text(), re.M)


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {".js": "text/javascript", ".html": "text/html", ".css": "text/css"}

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        for prefix, root in (("/static/", STATIC), ("/test/", HERE)):
            if path.startswith(prefix):
                return str(root / path[len(prefix):])
        return str(HERE / "missing")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, dict[str, Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with chromium() as driver:
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/test/logic.html")
            done = until(lambda: driver.execute_script("return window.__results"),
                         "the logic tests to finish", 20, PAGE_POLL, retry_on=STALE)
            errors = console_errors(driver)
            assert not errors, errors
            yield {r["name"]: r for r in done}
    finally:
        server.shutdown()
        server.server_close()


def test_every_js_test_ran(results: dict[str, dict[str, Any]]) -> None:
    assert sorted(results) == sorted(NAMES)
    assert len(NAMES) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_logic(results: dict[str, dict[str, Any]], name: str) -> None:
    result = results[name]
    assert result["ok"], result.get("error")
