"""What every km control-plane server shares: flags, the apiserver connection, HTTPS serving.

Modules, lightest first:

* ``options``   the shared flags (``--kubeconfig``, ``--leader-elect*``, ``--secure-port``)
                and Go duration parsing (standard library only: a server's options.py uses it)
* ``connect``   a ``Client`` from those flags; waiting for the apiserver (imports aiohttp)
* ``delegated`` who may read /metrics: TokenReview and SubjectAccessReview through the
                client, cached briefly (no aiohttp of its own)
* ``serving``   HTTPS /healthz and /metrics on --secure-port, guarded by ``delegated``
                (aiohttp, prometheus_client; cryptography for the self-signed certificate)

Leader election itself is ``servers.client.leaderelection``. This package is no server: it has
no ``server()``; importing it imports nothing.
"""
