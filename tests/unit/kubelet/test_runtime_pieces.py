"""Unit tests of the node runtime's pure pieces: names, addresses, records, spec, messages."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from servers.kubelet.linux import cgroups, command
from servers.kubelet.runtime import base, conmon, ipam, names, open_runtime, spec
from servers.kubelet.runtime.errors import (
    CommandFailed,
    InvalidConfig,
    RuntimeFailure,
    RuntimeUnavailable,
)
from servers.kubelet.runtime.interface import (
    ContainerConfig,
    Mount,
    PodSandboxConfig,
    Resources,
    Security,
)
from servers.kubelet.runtime.state import CONTAINERS, SANDBOXES, Store

SANDBOX = "0123456789abcdef0123456789abcdef"


def test_names_derive_from_the_node_and_fit_the_kernel() -> None:
    a, b = names.for_node("node-a"), names.for_node("node-b")
    assert a.key == "node-a"
    assert a.bridge != b.bridge and a.veth(SANDBOX) != b.veth(SANDBOX)
    assert len(a.bridge) <= names.IFNAMSIZ and len(a.veth(SANDBOX)) <= names.IFNAMSIZ
    assert a.netns(SANDBOX) == "km-node-a-0123456789ab"
    assert a.cgroup(SANDBOX, "c1") == f"/km-node-a/{SANDBOX}/c1"
    assert a.pins_dir == "/run/km/node-a"


def test_odd_node_names_are_hashed_into_safe_keys() -> None:
    odd = names.for_node("Node_With/Slash")
    assert "/" not in odd.key and len(odd.key) == 16


def test_loopback_range_is_per_node_and_never_127_0_0() -> None:
    cidrs = {names.for_node(f"n{i}").loopback_cidr() for i in range(50)}
    assert len(cidrs) > 40
    assert all(c.startswith("127.") and not c.startswith("127.0.") and c.endswith(".0/24")
               for c in cidrs)


def test_ipam_hands_out_distinct_addresses_and_takes_them_back(tmp_path: Path) -> None:
    d = str(tmp_path / "ipam")
    first = ipam.allocate(d, "10.244.3.0/29", "a")
    assert first == "10.244.3.2/29"  # .1 is the gateway
    assert ipam.allocate(d, "10.244.3.0/29", "a") == first  # the same owner, the same address
    taken = {ipam.allocate(d, "10.244.3.0/29", o) for o in "bcde"}
    assert first not in taken and len(taken) == 4
    with pytest.raises(RuntimeFailure, match=re.escape("no free address left in 10.244.3.0/29")):
        ipam.allocate(d, "10.244.3.0/29", "f")
    ipam.release(d, "a")
    ipam.release(d, "a")
    assert ipam.allocate(d, "10.244.3.0/29", "f") == first


def test_store_round_trips_and_lists_oldest_first(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    store.save(SANDBOXES, "late", {"created_at": 2.0})
    store.save(SANDBOXES, "early", {"created_at": 1.0})
    (tmp_path / SANDBOXES / "half").mkdir()  # a crash before the first record was written
    assert store.ids(SANDBOXES) == ["early", "late"]
    assert store.load(SANDBOXES, "late") == {"created_at": 2.0}
    assert store.load(CONTAINERS, "nope") is None
    store.delete(SANDBOXES, "late")
    assert store.ids(SANDBOXES) == ["early"]


def test_container_config_survives_its_record() -> None:
    config = ContainerConfig(
        name="c", command=("a",), args=("b",), env={"K": "V"},
        mounts=(Mount("/data", "/srv", readonly=True), Mount("/scratch", tmpfs=True)),
        resources=Resources(memory_limit=1 << 20),
        security=Security(capabilities_add=("NET_ADMIN",), run_as_user=1000))
    record = json.loads(json.dumps(dataclasses.asdict(config)))
    assert base.container_config(record) == config


def test_capabilities_start_from_containerds_defaults() -> None:
    assert spec.capabilities(Security()) == sorted(spec.DEFAULT_CAPS)
    caps = spec.capabilities(Security(capabilities_add=("net_admin",),
                                      capabilities_drop=("NET_RAW", "CAP_KILL")))
    assert "CAP_NET_ADMIN" in caps and "CAP_NET_RAW" not in caps and "CAP_KILL" not in caps
    assert spec.capabilities(Security(capabilities_drop=("ALL",),
                                      capabilities_add=("NET_BIND_SERVICE",))) == \
        ["CAP_NET_BIND_SERVICE"]
    assert spec.capabilities(Security(privileged=True)) == list(spec.ALL_CAPS)


def test_spec_joins_the_pod_namespaces_and_sets_limits() -> None:
    config = ContainerConfig(
        name="c", command=("/bin/app",), args=("--x",), env={"A": "1"}, working_dir="/srv",
        mounts=(Mount("/data", "/srv"),),
        resources=Resources(cpu_shares=204, cpu_quota=50_000, memory_limit=64 << 20,
                            pids_limit=100),
        security=Security(run_as_user=1000, run_as_group=1000, read_only_root=True))
    doc = spec.build(config, hostname="web", cgroups_path="/km-n/s/c", hide=["/var/lib/km"],
                     namespaces={"network": "/run/netns/x", "ipc": "/p/ipc", "uts": "/p/uts"},
                     host=["/etc", "/usr"])
    process = doc["process"]
    assert process["args"] == ["/bin/app", "--x"]
    assert "A=1" in process["env"] and "HOSTNAME=web" in process["env"]
    assert (process["cwd"], process["user"]) == ("/srv", {"uid": 1000, "gid": 1000})
    assert process["noNewPrivileges"] is True
    assert doc["root"] == {"path": "rootfs", "readonly": True}
    linux = doc["linux"]
    assert {"type": "network", "path": "/run/netns/x"} in linux["namespaces"]
    assert {"type": "pid"} in linux["namespaces"] and {"type": "mount"} in linux["namespaces"]
    assert linux["resources"]["cpu"] == {"shares": 204, "quota": 50_000, "period": 100_000}
    assert linux["resources"]["memory"] == {"limit": 64 << 20, "swap": 64 << 20}
    assert linux["resources"]["pids"] == {"limit": 100}
    destinations = [m["destination"] for m in doc["mounts"]]
    assert destinations[0] == "/"  # the tmpfs root comes first, volumes last
    assert destinations.index("/etc") < destinations.index("/tmp") < \
        destinations.index("/var/lib/km") < destinations.index("/data")
    etc = doc["mounts"][destinations.index("/etc")]
    assert "ro" in etc["options"] and "rbind" in etc["options"]


def test_host_dirs_skip_what_a_container_gets_fresh(tmp_path: Path) -> None:
    for name in ("etc", "usr", "proc", "tmp", "run", "lost+found"):
        (tmp_path / name).mkdir()
    (tmp_path / "file").write_text("")
    assert spec.host_dirs(str(tmp_path)) == [str(tmp_path / "etc"), str(tmp_path / "usr")]


def test_conmon_sync_message() -> None:
    assert conmon.pid_from(b'{"data": 4242}') == 4242
    with pytest.raises(CommandFailed, match="container create: exec failed: no such file"):
        conmon.pid_from(b'{"data": -1, "message": "exec failed: no such file"}')
    with pytest.raises(CommandFailed, match="unreadable"):
        conmon.pid_from(b"")


def test_failed_command_is_one_line() -> None:
    line = command.failure_line(["/usr/sbin/ip", "link", "add"], 2,
                                b"first\nCannot find device \"x\"\n")
    assert line == 'ip link: exit 2: Cannot find device "x"'


def test_a_missing_program_names_its_package() -> None:
    with pytest.raises(RuntimeUnavailable, match="km-no-such-tool not found: install the "
                                                 "Debian package km-pkg"):
        command.find_program("km-no-such-tool", "km-pkg")


@pytest.mark.parametrize(("config", "message"), [
    (ContainerConfig(name="c", command=()), "no command"),
    (ContainerConfig(name="c", command=("x",), env={"A=B": "1"}), "bad environment variable"),
    (ContainerConfig(name="c", command=("x",), working_dir="rel"), "not absolute"),
    (ContainerConfig(name="c", command=("x",), mounts=(Mount("data", "/"),)), "not absolute"),
    (ContainerConfig(name="c", command=("x",), mounts=(Mount("/d", "/km/none"),)),
     "does not exist"),
])
def test_bad_container_configs_are_refused(config: ContainerConfig, message: str) -> None:
    with pytest.raises(InvalidConfig, match=message):
        base._check_container(config)


def test_hostnames_follow_kube() -> None:
    for bad in ("a_b", "Upper", "-lead", "é"):
        with pytest.raises(InvalidConfig, match="hostname"):
            base._check_sandbox(PodSandboxConfig(name=bad, namespace="n", uid="u"))
    base._check_sandbox(PodSandboxConfig(name="a-b.c", namespace="n", uid="u"))
    long = PodSandboxConfig(name="x" * 62 + "-y" + "z" * 10, namespace="n", uid="u")
    assert long.pod_hostname == "x" * 62  # cut to 63, then the trailing '-' goes
    base._check_sandbox(long)
    assert PodSandboxConfig(name="p", namespace="n", uid="u", hostname="h").pod_hostname == "h"


def test_open_runtime_refuses_unknown_isolation_and_missing_cidr(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="unknown isolation 'vm'"):
        open_runtime("vm", str(tmp_path), "n")
    with pytest.raises((InvalidConfig, RuntimeUnavailable)):
        open_runtime("namespaces", str(tmp_path), "n")


def test_missing_mountpoints_get_an_overlay_of_a_skeleton(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "exists").mkdir()
    (tmp_path / "file").write_text("x")
    host = [str(tmp_path / "etc"), "/km-unused"]
    volumes = (Mount(str(tmp_path / "etc" / "exists"), "/srv"),
               Mount(str(tmp_path / "etc" / "new" / "deep"), "/srv"),
               Mount(str(tmp_path / "etc" / "one"), str(tmp_path / "file")))
    overlays = spec.overlaid(host, volumes)
    assert list(overlays) == [str(tmp_path / "etc")]
    assert [v.container_path for v in overlays[str(tmp_path / "etc")]] == \
        [volumes[1].container_path, volumes[2].container_path]
    skeleton = tmp_path / "skel"
    spec.make_skeleton(str(skeleton), overlays)
    layer = skeleton / str(tmp_path / "etc").lstrip("/")
    assert (layer / "new" / "deep").is_dir() and (layer / "one").is_file()
    doc = spec.build(ContainerConfig(name="c", command=("x",), mounts=volumes), hostname="h",
                     namespaces={}, cgroups_path="/c", hide=[], host=host,
                     skeleton=str(skeleton))
    etc = next(m for m in doc["mounts"] if m["destination"] == str(tmp_path / "etc"))
    assert etc["type"] == "overlay"
    assert etc["options"] == ["ro", f"lowerdir={layer}:{tmp_path / 'etc'}"]


def test_runc_errors_lose_their_logrus_wrapping() -> None:
    line = ('time="2026-12-06T09:42:53Z" level=error msg="runc create failed: unable to start '
            'container process: exec: \\"/x\\": stat /x: no such file or directory"')
    assert conmon._runc_message(line) == 'exec: "/x": stat /x: no such file or directory'
    assert conmon._runc_message("plain words") == "plain words"


def test_capabilities_are_cut_to_what_the_runtime_holds() -> None:
    bounding = tuple(c for c in spec.ALL_CAPS if c != "CAP_SYS_RESOURCE")
    assert "CAP_SYS_RESOURCE" not in spec.capabilities(Security(privileged=True), bounding)
    assert spec.capabilities(Security(capabilities_add=("SYS_RESOURCE",)), bounding) == \
        sorted(spec.DEFAULT_CAPS)
    assert set(spec.host_bounding()) <= set(spec.ALL_CAPS)


def test_runtime_default_seccomp_is_a_short_deny_list() -> None:
    def section(security: Security) -> dict[str, object]:
        doc = spec.build(ContainerConfig(name="c", command=("x",), security=security),
                         hostname="h", namespaces={}, cgroups_path="/c", hide=[], host=[])
        return doc["linux"].get("seccomp", {})  # type: ignore[no-any-return]

    assert section(Security()) == {}
    profile = section(Security(seccomp="RuntimeDefault"))
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    assert {"mount", "unshare", "ptrace", "kexec_load"} <= set(
        profile["syscalls"][0]["names"])  # type: ignore[index]
    assert section(Security(seccomp="RuntimeDefault", privileged=True)) == {}
    with pytest.raises(InvalidConfig, match="only RuntimeDefault or Unconfined"):
        section(Security(seccomp="Localhost"))


def test_cgroup_limit_files_v1_and_v2() -> None:
    v1 = cgroups.limit_files(512, 50_000, 100_000, 64 << 20, 10, unified=False)
    assert v1 == {"memory": {"memory.limit_in_bytes": str(64 << 20)},
                  "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000",
                          "cpu.shares": "512"},
                  "pids": {"pids.max": "10"}}
    none = cgroups.limit_files(0, 0, 100_000, 0, 0, unified=False)
    assert none["memory"]["memory.limit_in_bytes"] == "-1"
    assert none["cpu"]["cpu.cfs_quota_us"] == "-1" and "cpu.shares" not in none["cpu"]
    v2 = cgroups.limit_files(1024, 0, 100_000, 0, 0, unified=True)
    assert v2 == {"": {"memory.max": "max", "cpu.max": "max 100000", "pids.max": "max",
                       "cpu.weight": "39"}}
    assert (cgroups.v2_weight(2), cgroups.v2_weight(262144)) == (1, 10000)


def test_a_terminal_container_is_told_term_xterm_unless_it_says_otherwise() -> None:
    plain = ContainerConfig(name="c", command=("/bin/sh",), env={"A": "1"})
    assert "TERM" not in spec.process_env(plain)
    tty = dataclasses.replace(plain, tty=True)
    assert spec.process_env(tty, POD_IP="127.1.0.2") == {
        "PATH": spec.DEFAULT_PATH, "POD_IP": "127.1.0.2", "TERM": "xterm", "A": "1"}
    own = dataclasses.replace(tty, env={"TERM": "vt100", "PATH": "/bin"})
    assert spec.process_env(own) == {"PATH": "/bin", "TERM": "vt100"}
    doc = spec.build(tty, hostname="web", cgroups_path="/km-n/s/c", hide=[], namespaces={},
                     host=["/usr"])
    assert "TERM=xterm" in doc["process"]["env"] and doc["process"]["terminal"] is True


def test_a_terminal_exec_is_told_term_xterm_as_containerd_does() -> None:
    env = {"PATH": "/bin", "TERM": "vt100"}
    assert spec.exec_env(env, tty=True) == {"PATH": "/bin", "TERM": "xterm"}
    assert spec.exec_env(env, tty=False) is env
