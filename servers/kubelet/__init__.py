"""km kubelet: not registered as a server yet.

This package holds the node's runtime seam (``runtime/``: the CRI-shaped ``Runtime`` interface
and its two implementations) and the Linux facilities below it (``linux/``: network
namespaces, the node bridge and veths, namespace pins, cgroups). The kubelet server that
drives them (pod workers, API sync, status, probes, the HTTP API) comes next; until then
``servers/km.py`` does not list a kubelet and this file exports nothing.
"""
