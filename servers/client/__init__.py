"""The async client every km server uses to talk to the apiserver.

    from servers.client.kubeconfig import load_kubeconfig
    from servers.client.rest import Client
    from servers.client.resources import PODS
    from servers.client.informer import Informer

    async with Client(load_kubeconfig(path)) as client:
        pod = await client.get(PODS, "web", namespace="default")

Modules, lightest first:

* ``errors``      the client-side error tree (transport and configuration failures)
* ``resources``   ``ResourceRef`` and the core/v1 constants; URL paths (standard library only)
* ``kubeconfig``  ``Config`` and ``load_kubeconfig``; TLS contexts (PyYAML, imported lazily)
* ``rest``        ``Client``: one aiohttp session, CRUD, patch, watch (imports aiohttp)
* ``informer``    ``Informer`` and ``SharedInformerFactory``: list + watch + local cache

Errors the server answers with are ``servers.apimachinery.errors.StatusError`` subclasses,
rebuilt from the ``Status`` body (``NotFound``, ``Conflict``, ``Gone``, ...); failures on the
client's side of the wire are ``servers.client.errors.ClientError`` subclasses.

Importing this package imports nothing beyond the standard library: import the module you need.
"""
