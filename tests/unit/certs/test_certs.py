"""km certs, run in-process: what it writes, with which names, groups and modes, and when."""

from __future__ import annotations

import io
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from servers import km
from servers.certs import app

SERVER = "https://127.0.0.1:6443"


def certs(folder: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    hk = km.make_hyperkube()
    hk._out, hk._err = out, err
    old = sys.stdout
    sys.stdout = out
    try:
        code = hk.run(["km", "certs", "--dir", str(folder), "--server", SERVER, *args])
    finally:
        sys.stdout = old
    return code, out.getvalue(), err.getvalue()


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def subject(cert: x509.Certificate) -> tuple[str, list[str]]:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cn), [str(o) for o in orgs]


def test_it_makes_a_ca_a_serving_cert_and_a_client_per_identity(tmp_path: Path) -> None:
    code, out, _ = certs(tmp_path / "pki", "--node", "n1", "--apiserver-san", "10.0.0.1,api")
    assert code == 0
    pki = tmp_path / "pki"
    expected = [("admin", "admin", ["system:masters"]),
                ("scheduler", "system:kube-scheduler", []),
                ("controller-manager", "system:kube-controller-manager", []),
                ("proxy", "system:kube-proxy", []),
                ("node-n1", "system:node:n1", ["system:nodes"])]
    ca = load(pki / "ca.crt")
    for file, user, groups in expected:
        cert = load(pki / f"{file}.crt")
        assert subject(cert) == (user, groups)
        cert.verify_directly_issued_by(ca)
        assert app.CREATED.format(path=pki / f"{file}.kubeconfig") in out
    serving = load(pki / "apiserver.crt")
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in sans} == {"10.0.0.1", "api", "127.0.0.1"}  # + --server's host


def test_keys_and_kubeconfigs_are_private(tmp_path: Path) -> None:
    certs(tmp_path)
    for path in tmp_path.iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        private = path.suffix in (".key", ".kubeconfig")
        assert mode == (0o600 if private else 0o644), path.name


def test_a_kubeconfig_embeds_the_ca_and_the_client_and_points_at_server(tmp_path: Path) -> None:
    certs(tmp_path)
    doc = yaml.safe_load((tmp_path / "scheduler.kubeconfig").read_text())
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == SERVER
    assert set(doc["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}
    from servers.client.kubeconfig import load_kubeconfig

    config = load_kubeconfig(tmp_path / "scheduler.kubeconfig")
    assert config.server == SERVER
    assert config.ssl_context() is not None


def test_a_second_run_keeps_every_file_and_adds_a_new_node(tmp_path: Path) -> None:
    certs(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, out, _ = certs(tmp_path, "--node", "n2")
    assert code == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before} == before
    assert app.KEPT.format(path=tmp_path / "ca.key") in out
    assert subject(load(tmp_path / "node-n2.crt"))[0] == "system:node:n2"
    load(tmp_path / "node-n2.crt").verify_directly_issued_by(load(tmp_path / "ca.crt"))


def test_force_makes_everything_anew(tmp_path: Path) -> None:
    certs(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    certs(tmp_path, "--force")
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert before.keys() == after.keys()
    assert all(before[name] != after[name] for name in before)


def test_a_lost_leaf_key_is_signed_again_by_the_kept_ca(tmp_path: Path) -> None:
    certs(tmp_path)
    ca = (tmp_path / "ca.crt").read_bytes()
    (tmp_path / "proxy.key").unlink()
    certs(tmp_path)
    assert (tmp_path / "ca.crt").read_bytes() == ca
    load(tmp_path / "proxy.crt").verify_directly_issued_by(load(tmp_path / "ca.crt"))


def test_server_must_be_https(tmp_path: Path) -> None:
    hk = km.make_hyperkube()
    err = io.StringIO()
    hk._err = err
    code = hk.run(["km", "certs", "--dir", str(tmp_path), "--server", "http://127.0.0.1:8080"])
    assert code == 1
    assert app.NOT_HTTPS.format(url="http://127.0.0.1:8080") in err.getvalue()


def test_without_cryptography_it_says_so_in_one_line(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['cryptography'] = None; from servers import km; "
            f"sys.exit(km.main(['km', 'certs', '--dir', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 1
    assert done.stderr.strip() == f"km certs: error: {app.NO_CRYPTOGRAPHY}"
    assert list(tmp_path.iterdir()) == []


def test_default_serving_names_cover_the_kubernetes_service(tmp_path: Path) -> None:
    certs(tmp_path)
    serving = load(tmp_path / "apiserver.crt")
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in sans} >= {
        "10.96.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local"}


def test_service_account_key_pair_signs_tokens_it_verifies(tmp_path: Path) -> None:
    from servers.apiserver.auth import serviceaccount as sa

    code, out, _ = certs(tmp_path)
    assert code == 0 and app.CREATED.format(path=tmp_path / "sa.key") in out
    signer = sa.Signer(sa.load_private_key(tmp_path / "sa.key"), "https://issuer")
    verifier = sa.Verifier(sa.load_public_keys(tmp_path / "sa.pub"), ("https://issuer",),
                           ("api",))
    token = signer.sign(sa.claims(issuer="https://issuer", audiences=["api"],
                                  expiration_seconds=600, namespace="ns",
                                  service_account={"metadata": {"name": "x", "uid": "u"}}))
    assert verifier.verify(token).user.name == "system:serviceaccount:ns:x"
    before = (tmp_path / "sa.key").read_bytes()
    certs(tmp_path)
    assert (tmp_path / "sa.key").read_bytes() == before
