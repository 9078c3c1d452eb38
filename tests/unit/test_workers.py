"""The parts of ``bastion serve --workers N`` that need no process tree: config checks, backoff, sockets."""

from __future__ import annotations

import socket
import sys

import pytest

from bastion.config_loader import ConfigError, load_config_text
from bastion.workers import (
    LAST_RESTART_SECONDS,
    STABLE_SECONDS,
    RestartBackoff,
    check_config,
    checked_source,
    open_listeners,
)


def config(text: str = ""):
    return load_config_text(
        "providers: {sim: {type: simulator}}\nmodels: {m: {provider: sim, model: s}}\n" + text
    )


def test_memory_limits_refuse_several_workers_unless_per_process() -> None:
    problems, _ = check_config(config(), 2)
    assert len(problems) == 1 and "limits.per_process: true" in problems[0] and "2 times" in problems[0]
    assert check_config(config("limits: {per_process: true}"), 2)[0] == []
    assert check_config(config("limits: {backend: redis, redis_url: 'redis://x'}"), 2)[0] == []
    assert check_config(config(), 1) == ([], [])


def test_memory_cache_warns_only() -> None:
    _, warnings = check_config(config("limits: {per_process: true}"), 3)
    assert len(warnings) == 1 and "cache.backend: memory" in warnings[0]
    assert check_config(config("limits: {per_process: true}\ncache: {mode: 'off'}"), 3)[1] == []


def test_a_reload_to_memory_limits_is_refused() -> None:
    source = checked_source(lambda: config(), 2)
    with pytest.raises(ConfigError) as caught:
        source()
    assert "limits.per_process" in caught.value.problems[0]


def test_backoff_doubles_and_resets_after_a_stable_run() -> None:
    now = [1000.0]
    backoff = RestartBackoff(clock=lambda: now[0])
    delays = [backoff.delay(0, None) for _ in range(12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == LAST_RESTART_SECONDS and delays == sorted(delays)
    assert backoff.delay(1, None) == 0.1  # slots are counted apart
    assert backoff.delay(0, ready_at=now[0] - STABLE_SECONDS) == 0.1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")
def test_each_slot_listens_on_its_own_socket() -> None:
    slots = open_listeners("127.0.0.1", 0, 1)  # port 0: pick one, then open the rest on it
    port = slots[0][0].getsockname()[1]
    try:
        more = open_listeners("127.0.0.1", port, 2, joining=True)
        assert {sock.getsockname()[1] for sockets in more for sock in sockets} == {port}
        assert more[0][0] is not more[1][0]
        with pytest.raises(OSError):  # another server's group, not ours: no joining it by accident
            open_listeners("127.0.0.1", port, 2)
        for sockets in more:
            for sock in sockets:
                sock.close()
    finally:
        slots[0][0].close()


def test_a_port_in_use_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            open_listeners("127.0.0.1", taken.getsockname()[1], 2)
