#!/usr/bin/env python3
"""The floor as N processes on one port, the worker model of `bastion serve --workers N`.

bench/harness/gateways/floor/floor.py on uvicorn (uvloop, httptools, backlog 4096, as its start.sh),
forked N times after binding one SO_REUSEPORT socket per process, so the kernel spreads connections
over the processes exactly as it does over Bastion's workers. Run it with the floor's venv python:

  /tmp/bastion-scratch/venv-floor/bin/python bench/workers/floor_procs.py N [PORT]

SIGTERM or SIGINT stops every process (each drains like uvicorn does).
"""

import contextlib
import os
import signal
import socket
import sys

FLOOR_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "gateways", "floor")


def listen(port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    return sock


def serve(sock):
    import uvicorn

    config = uvicorn.Config(
        "floor:app",
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )
    uvicorn.Server(config).run(sockets=[sock])


def main():
    count = int(sys.argv[1])
    port = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("PORT", "4000"))
    sys.path.insert(0, FLOOR_DIR)
    sockets = [listen(port) for _ in range(count)]
    children = []
    for own in sockets:
        pid = os.fork()
        if pid == 0:
            for other in sockets:
                if other is not own:
                    other.close()
            code = 0
            try:
                serve(own)
            except BaseException:
                code = 1
            os._exit(code)
        children.append(pid)
    for sock in sockets:
        sock.close()

    def stop(signum, frame):
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
