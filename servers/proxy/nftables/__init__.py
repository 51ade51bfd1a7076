"""km proxy's nftables mode: kube-proxy's nftables layout, written as JSON transactions."""
