"""km proxy's userspace mode: the original kube-proxy design, in asyncio."""
