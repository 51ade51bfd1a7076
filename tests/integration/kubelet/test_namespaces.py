"""What only ``--isolation namespaces`` promises: limits, a read-only host, own hostname and /tmp.

cgroup v1 is what these hosts have (/sys/fs/cgroup/<controller>); the v2 paths in
servers/kubelet/linux/cgroups.py are untested here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.kubelet.linux import cgroups, netns
from servers.kubelet.runtime.base import MonitoredRuntime, alive
from servers.kubelet.runtime.errors import RuntimeFailure
from servers.kubelet.runtime.interface import (
    CONTAINER_EXITED,
    ContainerConfig,
    Mount,
    Resources,
    Security,
)
from servers.kubelet.runtime.oci import NamespacesRuntime
from tests.integration.kubelet.conftest import (
    CLUSTER,
    SERVICES,
    Factory,
    kill_started,
    leftovers,
)
from tests.integration.kubelet.test_runtime_conformance import (
    cri_lines,
    pod,
    run_container,
    sh,
    wait_exit,
)

pytestmark = pytest.mark.parametrize("make_runtime", ["namespaces"], indirect=True)


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A directory on the host outside /tmp (which containers do not share), removed after."""
    path = Path("/var/tmp") / f"km-test-{secrets.token_hex(4)}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def test_memory_over_the_limit_is_oomkilled(runtime: MonitoredRuntime, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the kubelet's working directory: nothing lands there
    sid = await runtime.run_pod_sandbox(pod())
    config = ContainerConfig(name="hog", command=("python3", "-c", "b = bytearray(256 << 20)"),
                             resources=Resources(memory_limit=32 << 20))
    cid = await run_container(runtime, sid, config)
    status = await wait_exit(runtime, cid, timeout=20)
    assert (status.state, status.exit_code, status.reason) == (CONTAINER_EXITED, 137, "OOMKilled")
    assert list(tmp_path.iterdir()) == []  # conmon's "oom" file stays in the container's folder


async def test_limits_reach_the_cgroup(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    resources = Resources(cpu_shares=512, cpu_quota=50_000, memory_limit=64 << 20, pids_limit=12)
    cid = await run_container(runtime, sid, ContainerConfig(
        name="c", command=("sleep", "1000"), resources=resources))
    path = runtime.names.cgroup(sid, cid).strip("/")

    def read(controller: str, name: str) -> str:
        return Path("/sys/fs/cgroup", controller, path, name).read_text().strip()

    assert read("cpu", "cpu.shares") == "512"
    assert (read("cpu", "cpu.cfs_quota_us"), read("cpu", "cpu.cfs_period_us")) == \
        ("50000", "100000")
    assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert read("pids", "pids.max") == "12"
    status = await runtime.container_status(cid)
    assert str(status.pid) in read("pids", "cgroup.procs").split()


async def test_pids_limit_stops_a_fork_bomb(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    script = ("i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo forked $i")
    cid = await run_container(runtime, sid, sh(script, resources=Resources(pids_limit=10)))
    status = await wait_exit(runtime, cid, timeout=20)
    text = Path(status.log_path).read_text()
    assert status.exit_code != 0, text
    assert "forked 40" not in text
    assert "fork" in text.lower() or "resource temporarily unavailable" in text.lower(), text


async def test_host_files_are_visible_but_unchangeable(runtime: MonitoredRuntime,
                                                      host_dir: Path, tmp_path: Path) -> None:
    (host_dir / "kept").write_text("original\n")
    volume, readonly = tmp_path / "vol", tmp_path / "ro"
    volume.mkdir()
    readonly.mkdir()
    (readonly / "seen").write_text("ro volume\n")
    sid = await runtime.run_pod_sandbox(pod())
    script = (f"cat {host_dir}/kept; echo changed > {host_dir}/kept; rm -f {host_dir}/kept; "
              f"touch {host_dir}/new; touch /usr/km-new; echo written > /data/out; "
              "cat /ro/seen; touch /ro/new; touch /fresh && echo root-writable")
    cid = await run_container(runtime, sid, sh(script, mounts=(
        Mount("/data", str(volume)), Mount("/ro", str(readonly), readonly=True))))
    status = await wait_exit(runtime, cid)
    out = [text for stream, _, text in cri_lines(status.log_path) if stream == "stdout"]
    assert out == ["original", "ro volume", "root-writable"]
    assert (host_dir / "kept").read_text() == "original\n"
    assert sorted(os.listdir(host_dir)) == ["kept"]
    assert not os.path.exists("/usr/km-new") and not os.path.exists("/fresh")
    assert (volume / "out").read_text() == "written\n"
    assert sorted(os.listdir(readonly)) == ["seen"]


async def test_read_only_root_filesystem(runtime: MonitoredRuntime, tmp_path: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    volume = tmp_path / "vol"
    volume.mkdir()
    cid = await run_container(runtime, sid, sh(
        "touch /fresh || echo root is read-only; touch /data/ok && echo volume ok; "
        "echo s > /scratch/x && cat /scratch/x; grep ' /scratch ' /proc/mounts | cut -d' ' -f3",
        mounts=(Mount("/data", str(volume)), Mount("/scratch", tmpfs=True)),
        security=Security(read_only_root=True)))
    status = await wait_exit(runtime, cid)
    out = [text for stream, _, text in cri_lines(status.log_path) if stream == "stdout"]
    assert out == ["root is read-only", "volume ok", "s", "tmpfs"]
    assert not os.path.exists("/scratch")


async def test_hostname_is_the_pod_name_and_tmp_is_private(runtime: MonitoredRuntime) -> None:
    name = f"web-{secrets.token_hex(3)}"
    mark = f"km-private-{secrets.token_hex(4)}"
    host_only = Path("/tmp") / f"km-host-{secrets.token_hex(4)}"
    host_only.write_text("host\n")
    try:
        sid = await runtime.run_pod_sandbox(pod(name))
        script = (f"hostname; echo $HOSTNAME; echo x > /tmp/{mark}; ls /tmp/{mark}; "
                  f"test -e {host_only} || echo host tmp unseen")
        first = await run_container(runtime, sid, sh(script, name="a"))
        status = await wait_exit(runtime, first)
        out = [text for stream, _, text in cri_lines(status.log_path) if stream == "stdout"]
        assert out == [name, name, f"/tmp/{mark}", "host tmp unseen"]
        assert not (Path("/tmp") / mark).exists()
        # the next container of the same pod has its own /tmp, and the same hostname
        second = await run_container(runtime, sid, sh(f"hostname; ls /tmp/{mark}", name="b"))
        status = await wait_exit(runtime, second)
        assert status.exit_code != 0
        assert ("stdout", "F", name) in cri_lines(status.log_path)
    finally:
        host_only.unlink()


async def test_pod_network_is_its_own(make_runtime: Factory) -> None:
    runtime = make_runtime()
    sid = await runtime.run_pod_sandbox(pod())
    ip = (await runtime.pod_sandbox_status(sid)).ip
    cid = await run_container(runtime, sid, sh("sleep 1000"))
    result = await runtime.exec_sync(cid, ["ip", "-4", "-o", "addr"], timeout=10)
    assert f"eth0    inet {ip}/24" in result.stdout.decode()
    route = await runtime.exec_sync(cid, ["ip", "route"], timeout=10)
    gateway = ip.rsplit(".", 1)[0] + ".1"
    assert f"default via {gateway} dev eth0" in route.stdout.decode()
    # the test's namespace has the bridge with the gateway address, and no other way out
    host = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", runtime.names.bridge],
                          capture_output=True, text=True, check=True)
    assert f"inet {gateway}/24" in host.stdout


async def test_removing_a_sandbox_leaves_nothing(make_runtime: Factory) -> None:
    runtime = make_runtime()
    sid = await runtime.run_pod_sandbox(pod())
    keep = await runtime.run_pod_sandbox(pod())
    cid = await run_container(runtime, sid, sh("sleep 1000"))
    pid = (await runtime.container_status(cid)).pid
    ns = runtime.names.netns(sid)
    assert netns.exists(ns)
    await runtime.remove_pod_sandbox(sid)
    assert not netns.exists(ns)
    assert not alive(pid, "")
    assert not os.path.exists(os.path.join(runtime.names.pins_dir, sid))
    veth = subprocess.run(["ip", "link", "show", "dev", runtime.names.veth(sid)],
                          capture_output=True)
    assert veth.returncode != 0
    for root in cgroups.hierarchies():
        assert not os.path.exists(os.path.join(root, runtime.names.cgroup(sid).strip("/")))
    assert [s.id for s in await runtime.list_pod_sandboxes()] == [keep]
    await runtime.remove_all()
    assert not netns.names(runtime.names.netns_prefix)
    bridge = subprocess.run(["ip", "link", "show", "dev", runtime.names.bridge],
                            capture_output=True)
    assert bridge.returncode != 0


async def test_cluster_addresses_stay_off_the_default_route(make_runtime: Factory) -> None:
    runtime = make_runtime()
    await runtime.run_pod_sandbox(pod())
    # a default route out of the test's namespace, to a port-less bridge that drops everything
    dummy = f"kmtd{secrets.token_hex(3)}"
    subprocess.run(["ip", "link", "add", dummy, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", dummy, "up"], check=True)
        subprocess.run(["ip", "route", "add", "default", "dev", dummy], check=True)

        def route_to(address: str) -> subprocess.CompletedProcess[str]:
            # a route lookup only: no packet is sent
            return subprocess.run(["ip", "route", "get", address], capture_output=True,
                                  text=True)

        assert f"dev {dummy}" in route_to("192.0.2.1").stdout  # the rest of the world
        other_node = route_to("10.244.251.7")
        assert other_node.returncode != 0 and "No route to host" in other_node.stderr
        assert f"dev {runtime.names.bridge}" in route_to("10.96.0.10").stdout  # services
        pods = route_to((await runtime.list_pod_sandboxes())[0].ip)
        assert f"dev {runtime.names.bridge}" in pods.stdout
    finally:
        subprocess.run(["ip", "link", "delete", dummy], check=True)


async def test_two_nodes_on_one_host_never_touch_each_others_pods(
        make_runtime: Factory, tmp_path: Path) -> None:
    mine = make_runtime()
    other = NamespacesRuntime(str(tmp_path / "other"), f"kmt-other-{secrets.token_hex(2)}",
                              "10.244.252.0/24", CLUSTER, SERVICES)
    try:
        theirs = await other.run_pod_sandbox(pod("same-name"))
        ours = await mine.run_pod_sandbox(pod("same-name"))
        their_cid = await run_container(other, theirs, sh("sleep 1000"))
        assert [s.id for s in await mine.list_pod_sandboxes()] == [ours]
        await mine.remove_all()
        assert (await other.container_status(their_cid)).state == "CONTAINER_RUNNING"
        assert netns.exists(other.names.netns(theirs))
        assert mine.names.bridge != other.names.bridge
        done = subprocess.run(["ip", "link", "show", "dev", other.names.bridge],
                              capture_output=True)
        assert done.returncode == 0
    finally:
        try:
            await other.remove_all()
        finally:
            kill_started(other.root)
    assert leftovers(other) == []


async def test_user_and_capabilities(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    script = "id -u; id -g; grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status"
    plain = await run_container(runtime, sid, sh(script, name="plain"))
    locked = await run_container(runtime, sid, sh(script, name="locked", security=Security(
        run_as_user=65534, run_as_group=65534, capabilities_drop=("ALL",))))
    outputs = {}
    for cid in (plain, locked):
        status = await wait_exit(runtime, cid)
        outputs[status.name] = [t for s, _, t in cri_lines(status.log_path) if s == "stdout"]
    assert outputs["plain"][:2] == ["0", "0"]
    assert outputs["plain"][2].split()[1] == "00000000a80425fb"  # containerd's default set
    assert outputs["locked"] == ["65534", "65534", "CapEff:\t0000000000000000", "NoNewPrivs:\t1"]


async def test_each_container_has_its_own_pids_and_the_pod_shares_ipc(
        runtime: MonitoredRuntime) -> None:
    first_pod = await runtime.run_pod_sandbox(pod())
    second_pod = await runtime.run_pod_sandbox(pod())
    script = "echo $$; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; ls /proc | " \
             "grep -c '^[0-9]'"
    seen = []
    for sid, name in ((first_pod, "a"), (first_pod, "b"), (second_pod, "c")):
        status = await wait_exit(runtime, await run_container(runtime, sid, sh(script, name=name)))
        seen.append([t for s, _, t in cri_lines(status.log_path) if s == "stdout"])
    a, b, c = seen
    assert a[0] == b[0] == c[0] == "1"  # the command is pid 1 of its own pid namespace
    assert int(a[3]) <= 3  # sh, ls and grep: no host process is visible
    assert a[1:3] == b[1:3]  # one pod, one ipc and uts namespace
    assert a[1] != c[1] and a[2] != c[2]


async def test_a_sandbox_whose_namespace_vanished_is_not_ready(make_runtime: Factory) -> None:
    runtime = make_runtime()
    sid = await runtime.run_pod_sandbox(pod())
    assert (await runtime.pod_sandbox_status(sid)).state == "SANDBOX_READY"
    # what a reboot does to /run: the record stays, the kernel's part is gone
    subprocess.run(["ip", "netns", "delete", runtime.names.netns(sid)], check=True)
    restarted = make_runtime()
    assert (await restarted.pod_sandbox_status(sid)).state == "SANDBOX_NOTREADY"
    await restarted.remove_pod_sandbox(sid)
    assert await restarted.list_pod_sandboxes() == []


async def test_volumes_mount_where_the_host_has_no_such_directory(
        runtime: MonitoredRuntime, tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    config_dir, deep, single = f"/etc/km-config-{tag}", f"/usr/share/km-{tag}/deep", \
        f"/etc/km-file-{tag}"
    volume = tmp_path / "vol"
    volume.mkdir()
    (volume / "key").write_text("value\n")
    (tmp_path / "file").write_text("one file\n")
    sid = await runtime.run_pod_sandbox(pod())
    script = (f"cat {config_dir}/key {deep}/key {single}; touch /etc/km-{tag} || "
              "echo etc still read-only; test -f /etc/passwd && echo host etc visible")
    cid = await run_container(runtime, sid, sh(script, mounts=(
        Mount(config_dir, str(volume), readonly=True), Mount(deep, str(volume)),
        Mount(single, str(tmp_path / "file"), readonly=True))))
    status = await wait_exit(runtime, cid)
    out = [t for s, _, t in cri_lines(status.log_path) if s == "stdout"]
    assert out == ["value", "value", "one file", "etc still read-only", "host etc visible"]
    for path in (config_dir, f"/usr/share/km-{tag}", single, f"/etc/km-{tag}"):
        assert not os.path.lexists(path)  # nothing was made on the host


async def test_a_failed_sandbox_set_up_leaves_nothing(tmp_path: Path,
                                                      make_runtime: Factory) -> None:
    make_runtime()  # only for the private network namespace and its clean-up checks
    tiny = NamespacesRuntime(str(tmp_path / "tiny"), f"kmt-tiny-{secrets.token_hex(2)}",
                             "10.244.253.0/30")  # one address besides the gateway
    try:
        first = await tiny.run_pod_sandbox(pod())
        with pytest.raises(RuntimeFailure, match=r"no free address left in 10\.244\.253\.0/30"):
            await tiny.run_pod_sandbox(pod())
        assert [s.id for s in await tiny.list_pod_sandboxes()] == [first]
        assert netns.names(tiny.names.netns_prefix) == [tiny.names.netns(first)]
        assert os.listdir(tiny.names.pins_dir) == [first]
    finally:
        await tiny.remove_all()
    assert leftovers(tiny) == []


@pytest.mark.parametrize(("security", "expected"), [
    (Security(), ["unshare allowed", "ptrace allowed"]),
    (Security(seccomp="RuntimeDefault"), ["unshare denied", "ptrace denied"]),
    (Security(seccomp="RuntimeDefault", privileged=True), ["unshare allowed", "ptrace allowed"]),
])
async def test_runtime_default_seccomp_denies_what_a_container_has_no_business_doing(
        runtime: MonitoredRuntime, security: Security, expected: list[str]) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    script = ("unshare -U true 2>/dev/null && echo unshare allowed || echo unshare denied; "
              "python3 -c 'import ctypes, sys; sys.exit(ctypes.CDLL(None).ptrace(0, 0, 0, 0))'"
              " && echo ptrace allowed || echo ptrace denied")
    cid = await run_container(runtime, sid, sh(script, security=security))
    status = await wait_exit(runtime, cid)
    assert [t for s, _, t in cri_lines(status.log_path) if s == "stdout"] == expected


async def test_pod_level_limits_on_the_sandbox_cgroup(runtime: MonitoredRuntime) -> None:
    sid = await runtime.run_pod_sandbox(pod())
    relpath = runtime.names.cgroup(sid)
    cgroups.apply(relpath, cpu_shares=300, cpu_quota=30_000, memory=48 << 20, pids=20)
    cid = await run_container(runtime, sid, ContainerConfig(
        name="hog", command=("python3", "-c", "b = bytearray(256 << 20)")))  # no own limit
    status = await wait_exit(runtime, cid, timeout=20)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")  # the pod's limit holds it
    pod_dir = Path("/sys/fs/cgroup/cpu", relpath.strip("/"))
    assert (pod_dir / "cpu.shares").read_text().strip() == "300"
    assert Path("/sys/fs/cgroup/pids", relpath.strip("/"), "pids.max").read_text().strip() \
        == "20"
