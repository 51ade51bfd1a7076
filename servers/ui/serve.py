"""Serving the web view's static files at ``/ui/`` from the package (or from inside km.pyz).

The files hold no cluster data, so they are served before authentication: a browser cannot
attach a bearer token to a page load, and the page then calls the API with the token the user
pastes. Everything else still goes through the identify and authorize middlewares.
Each file carries a strong ETag and ``Cache-Control: no-cache`` (revalidate, 304 when
unchanged), so a new km.pyz is picked up at once; a Content-Security-Policy lets the page load
only its own files and talk only to its own origin.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from servers.apiserver.routing import PathNotFound

PREFIX = "/ui"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".ico": "image/x-icon",
}
CSP = ("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Asset:
    """One static file, ready to send."""

    body: bytes
    content_type: str
    etag: str


def read_static() -> dict[str, bytes]:
    """Every file under static/ by its relative name: from the folder beside this module, or,
    when it runs from km.pyz (byte code in cpXY/, package data at the archive's root), from
    the archive's ``servers/ui/static/``."""
    folder = Path(__file__).parent / "static"
    if folder.is_dir():
        return {p.relative_to(folder).as_posix(): p.read_bytes()
                for p in sorted(folder.rglob("*")) if p.is_file()}
    archive = getattr(__spec__.loader, "archive", None) if __spec__ else None
    if archive is None:
        return {}
    prefix = (__package__ or "servers.ui").replace(".", "/") + "/static/"
    with zipfile.ZipFile(archive) as zf:
        return {n[len(prefix):]: zf.read(n) for n in zf.namelist()
                if n.startswith(prefix) and not n.endswith("/")}


def assets(files: dict[str, bytes]) -> dict[str, Asset]:
    """Content type and ETag for each file (unknown suffixes go as octet streams)."""
    out = {}
    for name, body in files.items():
        kind = CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")
        out[name] = Asset(body, kind, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return out


class StaticUI:
    """The ``/ui`` middleware: answers GET and HEAD under ``/ui/`` itself, passes the rest on."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.assets = assets(read_static() if files is None else files)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return await handler(request)
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        if path == PREFIX:  # returned, not raised: the error middleware makes raised ones Status
            return web.Response(status=301, headers={"Location": PREFIX + "/"})
        return self.respond(request, path[len(PREFIX) + 1:] or INDEX)

    def respond(self, request: web.Request, name: str) -> web.Response:
        asset = self.assets.get(name)
        if asset is None or ".." in name.split("/"):
            raise PathNotFound
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache",
                   "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
        if asset.content_type.startswith("text/html"):
            headers["Content-Security-Policy"] = CSP
        if asset.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = asset.content_type
        return web.Response(body=asset.body, headers=headers)
