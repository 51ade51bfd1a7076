"""Wire protocols of kube's streaming requests (exec, attach, port-forward), shared by the
kubelet and the apiserver: the channel WebSocket codec (``channel``) and SPDY/3.1."""
