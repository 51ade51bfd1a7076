"""Pod volumes on the node: emptyDir, configMap, secret, downwardAPI, projected, hostPath.

Layout as kube's (``pkg/kubelet/kubelet_getters.go``): ``<root>/pods/<uid>/volumes/
kubernetes.io~<plugin>/<name>``. configMap, secret, downwardAPI and projected volumes are
written by an atomic writer (kubernetes ``pkg/volume/util/atomic_writer.go``): the files live
in a hidden ``..<timestamp>.<random>`` directory, ``..data`` links to it, and each visible
name links into ``..data``; an update writes a new directory, points ``..data_tmp`` at it and
renames that over ``..data`` (atomic), then drops the old one. Secrets and ``medium: Memory``
emptyDirs sit on a tmpfs when the kubelet is root. A missing, non-optional ConfigMap or
Secret is a ``VolumeError`` (the FailedMount event's text).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets as _secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from servers.kubelet.envvars import ConfigError, Sources, field_value, resource_value
from servers.kubelet.runtime.interface import Mount
from servers.kubelet.tokens import source_key

if TYPE_CHECKING:
    from servers.apimachinery.meta import Obj

__all__ = ["VolumeError", "atomic_write", "mounts_for", "payload", "pod_dir", "set_up",
           "tear_down"]

PLUGINS = {"emptyDir": "empty-dir", "configMap": "configmap", "secret": "secret",
           "downwardAPI": "downward-api", "projected": "projected", "hostPath": "host-path"}
DEFAULT_MODE = 0o644


class VolumeError(Exception):
    """A volume cannot be set up (its FailedMount message)."""


def pod_dir(root: str, uid: str) -> str:
    return os.path.join(root, "pods", uid)


def volume_dir(root: str, uid: str, volume: Obj) -> str:
    plugin = next((PLUGINS[k] for k in PLUGINS if k in volume), "unknown")
    return os.path.join(pod_dir(root, uid), "volumes", f"kubernetes.io~{plugin}",
                        volume["name"])


# -- the atomic writer ---------------------------------------------------------------------

def atomic_write(target: str, files: Mapping[str, tuple[bytes, int]]) -> bool:
    """Make ``target`` hold exactly ``files`` (path -> (content, mode)); ``False`` if it
    already did (nothing written)."""
    os.makedirs(target, exist_ok=True)
    data_link = os.path.join(target, "..data")
    if _current(data_link) == dict(files):
        return False
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime())
    fresh = f"..{stamp}.{_secrets.token_hex(5)}"
    fresh_dir = os.path.join(target, fresh)
    os.mkdir(fresh_dir, 0o755)
    for path, (content, mode) in files.items():
        full = os.path.join(fresh_dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(content)
        os.chmod(full, mode)
    old = os.readlink(data_link) if os.path.islink(data_link) else None
    tmp_link = os.path.join(target, "..data_tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_link)
    os.symlink(fresh, tmp_link)
    os.rename(tmp_link, data_link)
    tops = {p.split("/", 1)[0] for p in files}
    for name in os.listdir(target):
        if name.startswith(".."):
            continue
        if name not in tops:
            os.unlink(os.path.join(target, name))
    for top in tops:
        link = os.path.join(target, top)
        if not os.path.islink(link):
            os.symlink(os.path.join("..data", top), link)
    if old and old != fresh:
        shutil.rmtree(os.path.join(target, old), ignore_errors=True)
    return True


def _current(data_link: str) -> dict[str, tuple[bytes, int]] | None:
    if not os.path.isdir(data_link):
        return None
    found: dict[str, tuple[bytes, int]] = {}
    for folder, _, names in os.walk(data_link):
        for name in names:
            full = os.path.join(folder, name)
            with open(full, "rb") as f:
                found[os.path.relpath(full, data_link)] = (f.read(),
                                                           stat.S_IMODE(os.stat(full).st_mode))
    return found


# -- what each volume holds -----------------------------------------------------------------

def _keyed(source: Obj, data: dict[str, bytes], kind: str, name: str,
           default_mode: int) -> dict[str, tuple[bytes, int]]:
    items = source.get("items")
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    out = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f'configmap references non-existent config key: {key}'
                              if kind == "configmap" else
                              f'references non-existent secret key: {key}')
        out[item.get("path") or key] = (data[key], item.get("mode", default_mode))
    return out


def _configmap(source: Obj, sources: Sources, mode: int) -> dict[str, tuple[bytes, int]]:
    name = source.get("name", "")
    obj = sources.configmaps.get(name)
    if obj is None:
        if source.get("optional"):
            return {}
        raise VolumeError(f'configmap "{name}" not found')
    data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return _keyed(source, data, "configmap", name, source.get("defaultMode", mode))


def _secret(source: Obj, sources: Sources, mode: int) -> dict[str, tuple[bytes, int]]:
    name = source.get("secretName") or source.get("name", "")
    obj = sources.secrets.get(name)
    if obj is None:
        if source.get("optional"):
            return {}
        raise VolumeError(f'secret "{name}" not found')
    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    return _keyed(source, data, "secret", name, source.get("defaultMode", mode))


def _downward(source: Obj, pod: Obj, sources: Sources,
              mode: int) -> dict[str, tuple[bytes, int]]:
    out = {}
    meta = pod.get("metadata") or {}
    for item in source.get("items") or ():
        ref = item.get("fieldRef")
        try:
            if ref and ref.get("fieldPath") in ("metadata.labels", "metadata.annotations"):
                values = meta.get(ref["fieldPath"].split(".")[1]) or {}
                text = "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
            elif ref:
                text = field_value(pod, ref.get("fieldPath", ""), sources)
            else:
                text = resource_value(pod, "", item.get("resourceFieldRef") or {}, sources)
        except ConfigError as exc:
            raise VolumeError(str(exc)) from None
        out[item["path"]] = (text.encode(), item.get("mode", source.get("defaultMode", mode)))
    return out


def _token(source: Obj, sources: Sources, mode: int) -> dict[str, tuple[bytes, int]]:
    """A projected serviceAccountToken: the token the kubelet got (servers.kubelet.tokens)."""
    token = sources.tokens.get(source_key(source))
    if token is None:
        raise VolumeError("no service account token for this pod")
    return {source.get("path") or "token": (token.encode(), mode)}


def payload(volume: Obj, pod: Obj, sources: Sources) -> dict[str, tuple[bytes, int]] | None:
    """The files of an atomic-writer volume, or ``None`` for other kinds."""
    if "configMap" in volume:
        return _configmap(volume["configMap"], sources, DEFAULT_MODE)
    if "secret" in volume:
        return _secret(volume["secret"], sources, DEFAULT_MODE)
    if "downwardAPI" in volume:
        return _downward(volume["downwardAPI"], pod, sources, DEFAULT_MODE)
    if "projected" in volume:
        projected = volume["projected"]
        mode = projected.get("defaultMode", DEFAULT_MODE)
        files: dict[str, tuple[bytes, int]] = {}
        for part in projected.get("sources") or ():
            if "configMap" in part:
                files.update(_configmap({"defaultMode": mode, **part["configMap"]}, sources,
                                        mode))
            elif "secret" in part:
                files.update(_secret({"defaultMode": mode, **part["secret"]}, sources, mode))
            elif "downwardAPI" in part:
                files.update(_downward({"defaultMode": mode, **part["downwardAPI"]}, pod,
                                       sources, mode))
            elif "serviceAccountToken" in part:
                files.update(_token(part["serviceAccountToken"], sources, mode))
        return files
    return None


def referenced(pod: Obj) -> tuple[set[str], set[str]]:
    """The ConfigMaps and Secrets the pod's volumes read."""
    configmaps, secrets = set(), set()
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        parts = [volume, *((volume.get("projected") or {}).get("sources") or ())]
        for part in parts:
            if "configMap" in part:
                configmaps.add(part["configMap"].get("name", ""))
            if "secret" in part:
                secrets.add(part["secret"].get("secretName") or part["secret"].get("name", ""))
    return configmaps, secrets


# -- setting up and tearing down --------------------------------------------------------------

def _tmpfs(path: str) -> None:
    """A tmpfs at ``path`` when root (secrets never touch the disk); a plain dir otherwise."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0 or os.path.ismount(path):
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path], check=True,
                   capture_output=True)


def _host_path(source: Obj) -> str:
    path, kind = source.get("path", ""), source.get("type") or ""
    if kind == "DirectoryOrCreate":
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    checks = {"Directory": os.path.isdir, "File": os.path.isfile,
              "Socket": lambda p: stat.S_ISSOCK(os.stat(p).st_mode),
              "CharDevice": lambda p: stat.S_ISCHR(os.stat(p).st_mode),
              "BlockDevice": lambda p: stat.S_ISBLK(os.stat(p).st_mode)}
    check = checks.get(kind)
    if check is not None and not (os.path.exists(path) and check(path)):
        raise VolumeError(f"hostPath type check failed: {path} is not a "
                          f"{kind.lower() if kind != 'File' else 'file'}")
    return path


def set_up(root: str, pod: Obj, sources: Sources) -> dict[str, str]:
    """Make or refresh every volume of ``pod``; returns volume name -> host path."""
    uid = pod["metadata"]["uid"]
    paths: dict[str, str] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        if "hostPath" in volume:
            paths[volume["name"]] = _host_path(volume["hostPath"])
            continue
        where = volume_dir(root, uid, volume)
        if "secret" in volume or (volume.get("emptyDir") or {}).get("medium") == "Memory":
            _tmpfs(where)
        else:
            os.makedirs(where, exist_ok=True)
        files = payload(volume, pod, sources)
        if files is not None:
            atomic_write(where, files)
        paths[volume["name"]] = where
    return paths


def mounts_for(container: Obj, paths: Mapping[str, str]) -> tuple[Mount, ...]:
    """The container's volumeMounts as runtime mounts (subPath inside the volume)."""
    out = []
    for mount in container.get("volumeMounts") or ():
        base = paths.get(mount.get("name", ""))
        if base is None:
            raise VolumeError(f"volume {mount.get('name')!r} is not set up")
        host = base
        sub = mount.get("subPath") or ""
        if sub:
            host = os.path.realpath(os.path.join(base, sub))
            if not (host + "/").startswith(os.path.realpath(base) + "/"):
                raise VolumeError(f"subPath {sub!r} leaves volume {mount.get('name')!r}")
            if not os.path.exists(host):
                os.makedirs(host, exist_ok=True)
        out.append(Mount(container_path=mount["mountPath"], host_path=host,
                         readonly=bool(mount.get("readOnly"))))
    return tuple(out)


def tear_down(root: str, uid: str) -> None:
    """Unmount the pod's tmpfs volumes and remove its directory."""
    base = pod_dir(root, uid)
    if not os.path.isdir(base):
        return
    for folder, dirs, _ in os.walk(base, topdown=True):
        for name in list(dirs):
            full = os.path.join(folder, name)
            if os.path.ismount(full):
                subprocess.run(["umount", "-l", full], capture_output=True, check=False)
                dirs.remove(name)
    shutil.rmtree(base, ignore_errors=True)
