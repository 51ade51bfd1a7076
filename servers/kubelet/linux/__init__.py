"""Linux facilities below the node runtime, one kernel facility per module.

``command`` runs helper programs; ``netns`` named network namespaces; ``link`` the node
bridge and pod veths; ``pins`` ipc/uts namespaces kept alive by bind mounts; ``cgroups``
cgroup v1/v2 layout and clean-up. Each operation is idempotent (safe to re-run after a crash)
and each module removes what it made.
"""
