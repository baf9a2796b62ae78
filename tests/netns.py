"""Separate "hosts" on one machine: network namespaces joined by veth pairs (iproute2, as root).

``hosts("redis", "a", "b")`` makes one namespace per name, linked in a star around the first:
the test reaches the centre through a veth pair of its own, and every other host has its own
veth pair to the centre, on a /30 each; no forwarding, no change to the machine's own network.
Each host runs its commands under ``unshare --uts`` with a hostname of its own, so process names
(``host:pidns:pid``) tell the hosts apart. A host dies with ``kill_host``: SIGKILL every process in
its namespace, then its link goes down. Every namespace and link is removed in a ``finally``.

Skips when namespaces cannot be made (not root, no iproute2, no CAP_NET_ADMIN in a container);
with SLUICEGATE_REQUIRE_NETNS=1 (CI) that is a failure instead.
"""

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


def require_or_skip(reason: str) -> None:
    if os.environ.get("SLUICEGATE_REQUIRE_NETNS") == "1":
        pytest.fail(f"SLUICEGATE_REQUIRE_NETNS=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason}; run as root with iproute2 (ip netns) to test several hosts")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _ip_quietly(*args: str) -> None:
    """Clean-up: what is already gone is fine."""
    subprocess.run(["ip", *args], check=False, capture_output=True, timeout=10)


@dataclass(frozen=True, slots=True)
class Host:
    name: str  # the namespace
    hostname: str  # what its processes see (unshare --uts)
    centre: str  # the address of the centre host, as this host (or the test) reaches it
    link: tuple[str, str]  # (namespace or "" for the test's, device): this host's link, far end

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this host: its network namespace and its own hostname."""
        script = f'hostname {self.hostname} && exec "$@"'
        return [
            "ip",
            "netns",
            "exec",
            self.name,
            "unshare",
            "--uts",
            "sh",
            "-c",
            script,
            "-",
            *argv,
        ]

    def pids(self) -> list[int]:
        found = subprocess.run(
            ["ip", "netns", "pids", self.name],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return [int(pid) for pid in found.stdout.split()]


def kill_host(host: Host) -> None:
    """The host dies: every process in it SIGKILLed, then its network link cut."""
    _kill_all(host)
    namespace, device = host.link
    _ip(*(["-n", namespace] if namespace else []), "link", "set", device, "down")


def _kill_all(host: Host) -> None:
    for pid in host.pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _check_possible() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("unshare") is None:
        require_or_skip("network namespaces need root, iproute2 and util-linux's unshare")


@contextmanager
def hosts(centre: str, *others: str) -> Iterator[dict[str, Host]]:
    """Namespaces named by the test's words; the dict maps each word to its ``Host``."""
    _check_possible()
    tag = uuid.uuid4().hex[:6]
    net = f"10.{int(tag[:2], 16) % 200 + 20}"
    made: list[Host] = []
    outside = f"sg{tag}t"
    try:
        middle = Host(f"sg{tag}{centre}", f"host-{centre}", f"{net}.0.2", ("", outside))
        made.append(middle)
        _ip("netns", "add", middle.name)
        _ip("-n", middle.name, "link", "set", "lo", "up")
        _link(("", outside, f"{net}.0.1"), (middle.name, f"sg{tag}c0", f"{net}.0.2"))
        for index, name in enumerate(others, start=1):
            host = Host(
                f"sg{tag}{name}",
                f"host-{name}",
                f"{net}.{index}.1",
                (middle.name, f"sg{tag}c{index}"),
            )
            made.append(host)
            _ip("netns", "add", host.name)
            _ip("-n", host.name, "link", "set", "lo", "up")
            _link(
                (middle.name, f"sg{tag}c{index}", f"{net}.{index}.1"),
                (host.name, f"sg{tag}h{index}", f"{net}.{index}.2"),
            )
        yield {host.hostname.removeprefix("host-"): host for host in made}
    except subprocess.CalledProcessError as error:
        require_or_skip(f"cannot make network namespaces ({error.stderr.decode().strip()})")
    finally:
        for host in made:
            _kill_all(host)
            _ip_quietly("netns", "del", host.name)
        _ip_quietly("link", "del", outside)


def _link(near: tuple[str, str, str], far: tuple[str, str, str]) -> None:
    """A veth pair between two namespaces ("" = the test's), each end with its /30 address."""
    (near_ns, near_dev, _), (far_ns, far_dev, _) = near, far
    _ip(
        *(["-n", near_ns] if near_ns else []),
        "link",
        "add",
        near_dev,
        "type",
        "veth",
        "peer",
        "name",
        far_dev,
        "netns",
        far_ns,
    )
    for namespace, device, address in (near, far):
        scope = ["-n", namespace] if namespace else []
        _ip(*scope, "addr", "add", f"{address}/30", "dev", device)
        _ip(*scope, "link", "set", device, "up")
