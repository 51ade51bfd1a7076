"""What every km control-plane server shares: flags, the apiserver connection, HTTPS serving.

Modules, lightest first:

* ``options``   the shared flags (``--kubeconfig``, ``--leader-elect*``, ``--secure-port``)
                and Go duration parsing (standard library only: a server's options.py uses it)
* ``connect``   a ``Client`` from those flags; waiting for the apiserver (imports aiohttp)
* ``serving``   HTTPS /healthz and /metrics with kube's delegated authentication and
                authorization (aiohttp, prometheus_client, cryptography)

Leader election itself is ``servers.client.leaderelection``. This package is no server: it has
no ``server()``; importing it imports nothing.
"""
