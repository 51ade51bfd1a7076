"""Keep an RBAC ``Policy`` current: a ``Mirror`` (list, then watch) of each RBAC resource.

No storage read per request. ``synced()`` returns once every resource has been listed; the
authorization middleware awaits it, so no request is judged by a half-loaded policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servers.apiserver import resources
from servers.apiserver.authz.rbac import PLURALS, Policy
from servers.apiserver.mirror import Mirror
from servers.apiserver.routing import Target

if TYPE_CHECKING:
    from servers.apiserver.registry import Registry

Obj = dict[str, Any]


@dataclass(frozen=True)
class _Part:
    """The policy's objects of one plural, as a mirror's sink."""

    policy: Policy
    plural: str

    def replace(self, items: list[Obj]) -> None:
        self.policy.replace(self.plural, items)

    def put(self, obj: Obj) -> None:
        self.policy.put(self.plural, obj)

    def remove(self, obj: Obj) -> None:
        self.policy.remove(self.plural, obj)


class PolicyCache:
    """Runs the mirrors that fill ``policy``, one per RBAC resource."""

    def __init__(self, registry: Registry, policy: Policy) -> None:
        self.policy = policy
        self.mirrors = []
        for plural in PLURALS:
            resource = resources.by_plural(resources.RBAC, "v1", plural)
            assert resource is not None, plural
            self.mirrors.append(Mirror(registry, Target(resource, None), _Part(policy, plural),
                                       "rbac cache"))

    def start(self) -> None:
        for mirror in self.mirrors:
            mirror.start()

    async def synced(self) -> None:
        """Return once every RBAC resource has been listed at least once."""
        for mirror in self.mirrors:
            await mirror.synced()

    async def close(self) -> None:
        for mirror in self.mirrors:
            await mirror.close()
