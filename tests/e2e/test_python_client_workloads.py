"""The Python client's typed apps/v1 and batch/v1 APIs against km.pyz (apiserver, scheduler,
controller-manager, hollow nodes): what kubernetes-client/python's own e2e tests for apps and
batch exercise (create, read, scale, replace, list, delete with a propagation policy,
create_from_yaml), written here. Every answer is decoded into the client's models, so a field
km spells differently or leaves out where the model requires it fails the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_kubectl_sets import POLL, WAIT, Cluster, cluster
from tests.support.wait import until

__all__ = ["cluster"]  # the fixture, shared with test_kubectl_sets
NS = "default"


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Any]:
    import kubernetes

    configuration = kubernetes.client.Configuration()
    configuration.host = cluster.api.url
    with kubernetes.client.ApiClient(configuration) as api:
        yield api


def _template(app: str, image: str) -> Any:
    from kubernetes import client as k

    return k.V1PodTemplateSpec(
        metadata=k.V1ObjectMeta(labels={"app": app}),
        spec=k.V1PodSpec(containers=[k.V1Container(
            name="c", image=image,
            resources=k.V1ResourceRequirements(requests={"cpu": "10m"}))]))


def _selector(app: str) -> Any:
    from kubernetes import client as k

    return k.V1LabelSelector(match_labels={"app": app})


def _gone(read: Callable[[], Any]) -> bool:
    from kubernetes.client.rest import ApiException

    try:
        read()
    except ApiException as exc:
        return exc.status == 404
    return False


def test_deployment_create_scale_replace_and_foreground_delete(client: Any) -> None:
    from kubernetes import client as k

    apps = k.AppsV1Api(client)
    body = k.V1Deployment(metadata=k.V1ObjectMeta(name="py-web"),
                          spec=k.V1DeploymentSpec(replicas=2, selector=_selector("py-web"),
                                                  template=_template("py-web", "nginx:1")))
    made = apps.create_namespaced_deployment(NS, body)
    assert made.metadata.uid and made.spec.strategy.type == "RollingUpdate"
    assert made.spec.revision_history_limit == 10

    def available(want: int) -> bool:
        status = apps.read_namespaced_deployment_status("py-web", NS).status
        return status.available_replicas == want and status.updated_replicas == want

    until(lambda: available(2), "2 available replicas", WAIT, POLL)
    scale = apps.patch_namespaced_deployment_scale("py-web", NS, {"spec": {"replicas": 3}})
    assert isinstance(scale, k.V1Scale) and scale.spec.replicas == 3
    assert apps.read_namespaced_deployment_scale("py-web", NS).status.selector == "app=py-web"
    until(lambda: available(3), "3 available replicas", WAIT, POLL)

    current = apps.read_namespaced_deployment("py-web", NS)
    current.spec.template.spec.containers[0].image = "nginx:2"
    replaced = apps.replace_namespaced_deployment("py-web", NS, current)
    assert replaced.metadata.generation == current.metadata.generation + 1
    until(lambda: available(3) and all(
        p.spec.containers[0].image == "nginx:2" for p in k.CoreV1Api(client).list_namespaced_pod(
            NS, label_selector="app=py-web").items), "the rollout to nginx:2", WAIT, POLL)
    sets = apps.list_namespaced_replica_set(NS, label_selector="app=py-web").items
    assert sorted(rs.spec.replicas for rs in sets) == [0, 3]
    assert all(rs.metadata.owner_references[0].kind == "Deployment" for rs in sets)

    apps.delete_namespaced_deployment("py-web", NS,
                                      body=k.V1DeleteOptions(propagation_policy="Foreground"))
    until(lambda: _gone(
        lambda: apps.read_namespaced_deployment("py-web", NS)), "the deployment gone", WAIT, POLL)
    assert apps.list_namespaced_replica_set(NS, label_selector="app=py-web").items == []


def test_daemonset_and_statefulset_with_their_revisions(client: Any) -> None:
    from kubernetes import client as k

    apps = k.AppsV1Api(client)
    apps.create_namespaced_daemon_set(NS, k.V1DaemonSet(
        metadata=k.V1ObjectMeta(name="py-agent"),
        spec=k.V1DaemonSetSpec(selector=_selector("py-agent"),
                               template=_template("py-agent", "agent:1"))))
    apps.create_namespaced_stateful_set(NS, k.V1StatefulSet(
        metadata=k.V1ObjectMeta(name="py-db"),
        spec=k.V1StatefulSetSpec(replicas=2, service_name="py-db", selector=_selector("py-db"),
                                 template=_template("py-db", "db:1"))))
    until(lambda: (
        apps.read_namespaced_daemon_set_status("py-agent", NS).status.number_ready == 2),
        "a daemon pod on each of the 2 nodes", WAIT, POLL)
    until(lambda: (
        apps.read_namespaced_stateful_set_status("py-db", NS).status.ready_replicas == 2),
        "2 ready stateful pods", WAIT, POLL)
    sts = apps.read_namespaced_stateful_set("py-db", NS)
    assert sts.status.current_revision == sts.status.update_revision
    revisions = apps.list_namespaced_controller_revision(NS).items
    owners = sorted((r.metadata.owner_references[0].kind, r.revision) for r in revisions
                    if r.metadata.name.startswith(("py-agent-", "py-db-")))
    assert owners == [("DaemonSet", 1), ("StatefulSet", 1)]
    assert sts.status.update_revision in {r.metadata.name for r in revisions}

    apps.delete_namespaced_daemon_set("py-agent", NS)
    apps.delete_namespaced_stateful_set("py-db", NS,
                                        body=k.V1DeleteOptions(propagation_policy="Background"))
    core = k.CoreV1Api(client)
    until(lambda: not core.list_namespaced_pod(
        NS, label_selector="app in (py-agent,py-db)").items, "their pods gone", WAIT, POLL)


def test_job_and_cronjob(client: Any) -> None:
    from kubernetes import client as k

    batch = k.BatchV1Api(client)
    template = _template("py-pi", "perl")
    template.spec.restart_policy = "Never"
    template.spec.containers[0].command = ["perl", "-Mbignum=bpi", "-wle", "print bpi(20)"]
    job = batch.create_namespaced_job(NS, k.V1Job(
        metadata=k.V1ObjectMeta(name="py-pi"),
        spec=k.V1JobSpec(template=template, backoff_limit=4)))
    # kube gives a Job a generated selector on its controller-uid label.
    assert job.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": job.metadata.uid}
    until(lambda: batch.read_namespaced_job_status(
        "py-pi", NS).status.active == 1, "the job's pod", WAIT, POLL)
    listed = batch.list_namespaced_job(NS, label_selector="job-name=py-pi").items
    assert [j.metadata.name for j in listed] == ["py-pi"]
    batch.delete_namespaced_job("py-pi", NS,
                                body=k.V1DeleteOptions(propagation_policy="Foreground"))
    until(lambda: _gone(lambda: batch.read_namespaced_job("py-pi", NS)), "the job gone", WAIT, POLL)

    cron = batch.create_namespaced_cron_job(NS, k.V1CronJob(
        metadata=k.V1ObjectMeta(name="py-tick"),
        spec=k.V1CronJobSpec(schedule="*/5 * * * *", job_template=k.V1JobTemplateSpec(
            spec=k.V1JobSpec(template=template)))))
    assert cron.spec.suspend is False and cron.spec.concurrency_policy == "Allow"
    patched = batch.patch_namespaced_cron_job("py-tick", NS, {"spec": {"suspend": True}})
    assert patched.spec.suspend is True
    assert [c.metadata.name for c in batch.list_namespaced_cron_job(NS).items] == ["py-tick"]
    batch.delete_namespaced_cron_job("py-tick", NS)


def test_create_from_yaml_makes_every_document(client: Any, tmp_path: Path) -> None:
    from kubernetes import client as k
    from kubernetes import utils

    manifest = tmp_path / "app.yaml"
    manifest.write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: py-yaml}
spec:
  replicas: 1
  selector: {matchLabels: {app: py-yaml}}
  template:
    metadata: {labels: {app: py-yaml}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: py-yaml}
spec:
  selector: {app: py-yaml}
  ports: [{port: 80}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: py-yaml}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["true"]}]
""")
    made = utils.create_from_yaml(client, str(manifest), namespace=NS)
    kinds = sorted(obj.kind for group in made for obj in group)
    assert kinds == ["Deployment", "Job", "Service"]
    apps = k.AppsV1Api(client)
    until(lambda: apps.read_namespaced_deployment_status(
        "py-yaml", NS).status.available_replicas == 1, "the deployment available", WAIT, POLL)
    assert k.CoreV1Api(client).read_namespaced_service("py-yaml", NS).spec.cluster_ip
