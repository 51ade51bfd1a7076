"""Field selectors and the selectable fields of each resource."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.apimachinery.errors import BadRequest
from servers.apimachinery.selectors import (
    FieldSelector,
    FieldTerm,
    escape_field_value,
    field_labels,
    fields_for,
    parse_field_selector,
)

POD_FIELDS = field_labels("pods")


@pytest.mark.parametrize(
    ("text", "terms", "canonical"),
    [
        ("", [], ""),
        ("metadata.name=web", [FieldTerm("metadata.name", "web")], "metadata.name=web"),
        ("metadata.name==web", [FieldTerm("metadata.name", "web")], "metadata.name=web"),
        ("spec.nodeName=", [FieldTerm("spec.nodeName", "")], "spec.nodeName="),
        ("status.phase!=Failed", [FieldTerm("status.phase", "Failed", negated=True)],
         "status.phase!=Failed"),
        ("spec.nodeName=node1,status.phase!=Succeeded,status.phase!=Failed",
         [FieldTerm("spec.nodeName", "node1"),
          FieldTerm("status.phase", "Failed", negated=True),
          FieldTerm("status.phase", "Succeeded", negated=True)],
         "spec.nodeName=node1,status.phase!=Failed,status.phase!=Succeeded"),
        ("metadata.name=a\\,b\\=c\\\\d", [FieldTerm("metadata.name", "a,b=c\\d")],
         "metadata.name=a\\,b\\=c\\\\d"),
        ("metadata.name=web,", [FieldTerm("metadata.name", "web")], "metadata.name=web"),
        (",,metadata.name=web", [FieldTerm("metadata.name", "web")], "metadata.name=web"),
    ],
)
def test_parse(text: str, terms: list[FieldTerm], canonical: str) -> None:
    selector = parse_field_selector(text, POD_FIELDS)
    assert list(selector.terms) == terms
    assert str(selector) == canonical
    assert parse_field_selector(str(selector), POD_FIELDS) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo=bar", "field label not supported: foo"),
        ("metadata.name=web,zzz=1,aaa=2", "field label not supported: aaa"),
        (" metadata.name=web", "field label not supported:  metadata.name"),
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("metadata.name=web,foo", "invalid selector: 'metadata.name=web,foo'; can't understand "
                                  "'foo'"),
        ("zzz=1,foo", "invalid selector: 'zzz=1,foo'; can't understand 'foo'"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name!==b", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_errors_use_kubernetes_messages(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_field_selector(text, POD_FIELDS)
    assert caught.value.message == message


def test_matching_treats_missing_fields_as_empty() -> None:
    unscheduled = parse_field_selector("spec.nodeName=", POD_FIELDS)
    assert unscheduled.matches({"spec.nodeName": ""})
    assert unscheduled.matches({})
    assert not unscheduled.matches({"spec.nodeName": "n1"})
    active = parse_field_selector("status.phase!=Succeeded,status.phase!=Failed", POD_FIELDS)
    assert active.matches({"status.phase": "Running"})
    assert not active.matches({"status.phase": "Failed"})
    assert FieldSelector().matches({}) and FieldSelector().empty()


def test_requires_exact_match() -> None:
    selector = parse_field_selector("metadata.name=web,spec.nodeName!=n1", POD_FIELDS)
    assert selector.requires_exact_match("metadata.name") == "web"
    assert selector.requires_exact_match("spec.nodeName") is None
    assert selector.requires_exact_match("status.phase") is None


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet="a.=!,\\ ", max_size=30)),
       st.sets(st.sampled_from(["a", "a.a", "", " a", "metadata.name"])))
def test_any_text_parses_or_raises_bad_request(text: str, allowed: set[str]) -> None:
    try:
        selector = parse_field_selector(text, allowed)
    except BadRequest as err:
        assert err.message
        return
    assert all(term.field in allowed for term in selector.terms)
    # str() prints terms in a canonical order: the same terms, not necessarily the same order
    again = parse_field_selector(str(selector), allowed)
    assert sorted(map(repr, again.terms)) == sorted(map(repr, selector.terms))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), st.booleans())
def test_escaped_values_come_back_unchanged(value: str, negated: bool) -> None:
    operator = "!=" if negated else "="
    selector = parse_field_selector(f"f{operator}{escape_field_value(value)}", {"f"})
    assert selector.terms == (FieldTerm("f", value, negated),)
    assert selector.matches({"f": value}) is not negated


# -- selectable fields -------------------------------------------------------------------------

POD = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
             "serviceAccountName": "default"},
    "status": {"phase": "Running", "podIP": "10.0.0.1",
               "podIPs": [{"ip": "10.0.0.2"}], "nominatedNodeName": ""},
}


def test_pod_fields() -> None:
    assert fields_for(POD, "pods") == {
        "metadata.name": "web", "metadata.namespace": "default", "spec.nodeName": "n1",
        "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "default", "spec.hostNetwork": "false",
        "status.phase": "Running", "status.podIP": "10.0.0.2", "status.nominatedNodeName": "",
    }
    assert set(fields_for(POD, "pods")) == field_labels("pods")


def test_pod_fields_of_a_bare_or_malformed_pod_are_empty_strings() -> None:
    fields = fields_for({"metadata": {"name": "p"}, "spec": {"hostNetwork": True,
                                                             "nodeName": ["x"]},
                         "status": "weird"}, "pods")
    assert fields["spec.nodeName"] == ""
    assert fields["spec.hostNetwork"] == "true"
    assert fields["status.phase"] == ""
    assert fields_for({}, "pods")["metadata.name"] == ""
    assert fields_for({"status": {"podIP": "1.2.3.4"}}, "pods")["status.podIP"] == "1.2.3.4"


def test_event_fields() -> None:
    event = {
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1",
                           "apiVersion": "v1", "resourceVersion": "7"},
        "reason": "Scheduled", "type": "Normal", "reportingComponent": "default-scheduler",
        "source": {},
    }
    fields = fields_for(event, "events")
    assert fields["involvedObject.name"] == "web"
    assert fields["involvedObject.uid"] == "u1"
    assert fields["involvedObject.fieldPath"] == ""
    assert fields["source"] == "default-scheduler"
    assert fields["reason"] == "Scheduled"
    assert set(fields) == field_labels("events")
    selector = parse_field_selector(
        "involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=u1",
        field_labels("events"))
    assert selector.matches(fields)
    event["source"] = {"component": "kubelet"}
    assert fields_for(event, "events")["source"] == "kubelet"


@pytest.mark.parametrize(
    ("resource", "obj", "expected"),
    [
        ("nodes", {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
         {"metadata.name": "n1", "spec.unschedulable": "true"}),
        ("nodes", {"metadata": {"name": "n1"}},
         {"metadata.name": "n1", "spec.unschedulable": "false"}),
        ("namespaces", {"metadata": {"name": "ns"}, "status": {"phase": "Active"}},
         {"metadata.name": "ns", "status.phase": "Active"}),
        ("replicationcontrollers", {"metadata": {"name": "rc", "namespace": "d"},
                                    "status": {"replicas": 3}},
         {"metadata.name": "rc", "metadata.namespace": "d", "status.replicas": "3"}),
        ("replicasets", {"metadata": {"name": "rs", "namespace": "d"}, "status": {}},
         {"metadata.name": "rs", "metadata.namespace": "d", "status.replicas": "0"}),
        ("secrets", {"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"},
         {"metadata.name": "s", "metadata.namespace": "d", "type": "Opaque"}),
        ("configmaps", {"metadata": {"name": "c", "namespace": "d"}},
         {"metadata.name": "c", "metadata.namespace": "d"}),
    ],
)
def test_fields_per_resource(resource: str, obj: dict[str, object],
                             expected: dict[str, str]) -> None:
    assert fields_for(obj, resource) == expected
    assert set(expected) == field_labels(resource)


def test_nodes_do_not_support_metadata_namespace() -> None:
    with pytest.raises(BadRequest, match=r"^field label not supported: metadata\.namespace$"):
        parse_field_selector("metadata.namespace=x", field_labels("nodes"))
