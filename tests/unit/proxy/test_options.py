"""km proxy's flags (servers.proxy.options) and UDP conntrack filters (nftables.conntrack)."""

from __future__ import annotations

import argparse

import pytest

from servers.component.options import OptionsError
from servers.proxy import options
from servers.proxy.model import Endpoint, ServicePort
from servers.proxy.nftables.conntrack import stale_udp


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.add_flags(parser)
    opts = parser.parse_args(list(argv))
    options.validate(opts)
    return opts


def test_defaults_are_kube_proxys() -> None:
    opts = parse("--hostname-override", "Node-A")
    assert opts.healthz == ("0.0.0.0", 10256) and opts.metrics == ("127.0.0.1", 10249)
    assert opts.hostname_override == "node-a"
    assert opts.sync_period == 30.0 and opts.min_sync_period == 0.25


def test_zero_or_empty_turns_a_listener_off() -> None:
    opts = parse("--healthz-bind-address", "0", "--metrics-bind-address", "")
    assert opts.healthz is None and opts.metrics is None


@pytest.mark.parametrize("value", ["10256", "localhost:1", "1.2.3.4:99999"])
def test_bad_bind_address_is_one_line(value: str) -> None:
    with pytest.raises(OptionsError, match="--healthz-bind-address"):
        parse("--healthz-bind-address", value)


def test_nodeport_addresses_are_cidrs() -> None:
    opts = parse("--nodeport-addresses", "127.0.0.0/8,10.244.0.0/24")
    assert [str(n) for n in opts.nodeport_addresses] == ["127.0.0.0/8", "10.244.0.0/24"]


def _udp(*ips: str, node_port: int = 0) -> ServicePort:
    return ServicePort("default", "dns", "", "UDP", "10.96.0.11", 53, node_port, 0,
                       tuple(Endpoint(ip, 5353) for ip in ips))


def test_stale_udp_flows_of_gone_endpoints_and_of_vips_that_got_endpoints() -> None:
    assert stale_udp([_udp("10.244.0.2", "10.244.0.3")], [_udp("10.244.0.3")]) == [
        ["--orig-dst", "10.96.0.11", "--orig-port-dst", "53", "--dst-nat", "10.244.0.2"]]
    assert stale_udp([_udp()], [_udp("10.244.0.3")]) == [
        ["--orig-dst", "10.96.0.11", "--orig-port-dst", "53"]]
    assert stale_udp([_udp("10.244.0.2", node_port=30053)], []) == [
        ["--orig-dst", "10.96.0.11", "--orig-port-dst", "53", "--dst-nat", "10.244.0.2"],
        ["--orig-port-dst", "30053", "--dst-nat", "10.244.0.2"]]
    tcp = ServicePort("default", "web", "", "TCP", "10.96.0.10", 80, 0, 0,
                      (Endpoint("10.244.0.2", 80),))
    assert stale_udp([tcp], []) == []


def test_trigger_times_parse_with_nanoseconds_and_offsets() -> None:
    from servers.proxy.app import parse_time

    assert parse_time("1970-01-01T00:00:01.123456789Z") == pytest.approx(1.123456789)
    assert parse_time("1970-01-01T01:00:02+01:00") == 2.0
    assert parse_time("yesterday") is None


def test_sync_bucket_allows_a_burst_of_two_then_one_per_period(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from servers.proxy import app

    now = [100.0]
    monkeypatch.setattr(app.time, "monotonic", lambda: now[0])
    bucket = app.SyncBucket(1.0)
    assert bucket.take() == 0.0 and bucket.take() == 0.0
    assert bucket.take() == pytest.approx(1.0)
    now[0] += 1.0  # the caller waited its second
    assert bucket.take() == pytest.approx(1.0)
    now[0] += 10.0
    assert bucket.take() == 0.0
    assert app.SyncBucket(0.0).take() == 0.0


def test_health_fails_when_a_queued_change_waits_past_the_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from servers.proxy import health

    now = [1000.0]
    monkeypatch.setattr(health.time, "time", lambda: now[0])
    state = health.HealthState(timeout=60.0)
    assert state.healthy()  # nothing waits
    state.queued()
    now[0] += 59
    assert state.healthy()
    now[0] += 2
    assert not state.healthy()  # 61 s without a sync: 503
    state.updated(started=now[0] - 1)
    assert state.healthy() and state.last_updated == now[0]
    state.queued()
    state.updated(started=now[0] - 1)  # a sync that began before the change: still waits
    now[0] += 61
    assert not state.healthy()
