"""The ceiling for the create benchmark: a bare aiohttp handler that stores the pod JSON.

Same durability and group commit as km (it uses km's SQLite storage), nothing else: no
validation, no defaulting, no metadata, no watch. Prints `serving on http://HOST:PORT`.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from servers.apimachinery import jsonio
from servers.apiserver.storage import open_storage


async def main(data_dir: str) -> None:
    storage = await open_storage("sqlite", data_dir=data_dir, etcd_servers=[])

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        name = jsonio.loads(body)["metadata"]["name"]
        await storage.create(f"/registry/pods/default/{name}", body)
        return web.Response(status=201, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/v1/namespaces/default/pods", create)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"serving on http://{host}:{port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await storage.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
