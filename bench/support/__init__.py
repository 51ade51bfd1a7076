"""What several benchmarks share (support, not benchmarks): ``node`` (one km kubelet and its
pod, with the apiserver it trusts, in a network namespace of the bench's own), ``hollow`` (a
control plane over hollow nodes) and ``procfs`` (a process's CPU time and memory)."""
