"""Soak and leak test: one ``bastion serve`` under steady load for minutes; memory, files, sockets watched.

``python -m tests.soak --minutes 10`` is the full run; ``tests/soak/test_soak.py`` a one-minute
version in the test suite. See ``tests/soak/driver.py``.
"""
