"""The apiserver connection of a control-plane server, from ``--kubeconfig`` and ``--master``.

    client = client_from_options(opts)                 # ConfigError: one line, exit 1
    async with client:
        if not await wait_for_apiserver(client, stop):
            return 0                                   # stopped while waiting

``--master`` overrides the kubeconfig's server, as client-go's ``BuildConfigFromFlags`` does;
alone it is the whole configuration (no credentials: plain http to a loopback apiserver, whose
plain port trusts every request). Neither flag is an error rather than a guess: km servers run
outside pods, so there is no in-cluster configuration to fall back to.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING

from servers.apimachinery.errors import StatusError
from servers.client.errors import ApiUnavailable, BadResponse, ConfigError
from servers.client.informer import Backoff
from servers.client.kubeconfig import Config, load_kubeconfig
from servers.client.rest import USER_AGENT, Client

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable

__all__ = ["NO_CONNECTION", "client_config", "client_from_options", "wait_for_apiserver"]

log = logging.getLogger(__name__)

NO_CONNECTION = "no --kubeconfig or --master given"


def client_config(opts: argparse.Namespace) -> Config:
    """The ``Config`` the flags describe; ``ConfigError`` (one line) when they describe none."""
    kubeconfig: str | None = getattr(opts, "kubeconfig", None)
    master: str | None = getattr(opts, "master", None)
    if not kubeconfig and not master:
        raise ConfigError(NO_CONNECTION)
    if not kubeconfig:
        return _checked_master(str(master))
    config = load_kubeconfig(kubeconfig)
    if master:
        config = dataclasses.replace(config, server=_checked_master(master).server)
    return config


def _checked_master(url: str) -> Config:
    try:
        return Config.for_server(url)
    except ConfigError as exc:
        raise ConfigError(f"--master: {exc}") from None


def client_from_options(opts: argparse.Namespace, *, user_agent: str = USER_AGENT) -> Client:
    """A ``Client`` for the flags, not yet opened (use ``async with``)."""
    return Client(client_config(opts), user_agent=user_agent)


async def wait_for_apiserver(client: Client, stop: asyncio.Event, *,
                             backoff: Backoff | None = None) -> bool:
    """Wait until the apiserver answers ``/version``; ``False`` if ``stop`` came first.

    An unreachable apiserver, or one answering 5xx, is asked again after the informer's
    jittered backoff (0.2 s doubling to 5 s); waiting is logged once, not at every try. Any
    other answer, a refusal (401/403) included, means the apiserver is there: what is wrong
    with the credentials then shows in the first real request.
    """
    backoff = backoff or Backoff()
    waiting = False
    while not stop.is_set():
        try:
            if not await _unless_stopped(client.request("GET", "/version"), stop):
                return False
        except BadResponse:  # a 2xx that is no version document: something answers
            return True
        except (ApiUnavailable, StatusError) as exc:
            if isinstance(exc, StatusError) and exc.code < 500:
                return True
            if not waiting:
                log.info("waiting for the apiserver at %s: %s", client.config.server, exc)
                waiting = True
            if await _stopped(stop, backoff.next()):
                return False
            continue
        if waiting:
            log.info("the apiserver at %s answers", client.config.server)
        return True
    return False


async def _unless_stopped(call: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await ``call`` unless ``stop`` is set first (then cancel it and say ``False``)."""
    task = asyncio.ensure_future(call)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
    if not task.done() or task.cancelled():
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()
    return True


async def _stopped(stop: asyncio.Event, delay: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay)
    except asyncio.TimeoutError:
        return False
    return True
