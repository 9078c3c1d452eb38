"""The errors a counters backend raises, importable without the backend's client library."""

from __future__ import annotations


class CountersUnavailable(Exception):
    """The counter store could not answer (connection refused or lost, timeout, store error).

    Nothing is known about whether the operation was applied; the caller decides whether the
    request fails open (admit without limits) or closed (refuse), per its configuration.
    """
