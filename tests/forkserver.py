"""`python -m tap_aphex ...` as a real process, without paying for Python's imports each time.

Most of the CPU of the suite went on starting `tap-aphex`: each start imports the SDK and its
dependencies (about 0.3 CPU s), some 300 times a run, against tens of milliseconds for what a test
reads. Here one helper process per xdist worker imports what `tap-aphex` imports before it reads its
arguments (`tap_aphex.tap`, as `signals.load_command` does) and nothing else, then forks one child
per run. The child is a real process, started as `python -m tap_aphex` starts: its own stdout
and stderr pipes in place of the helper's (as fd 1 and 2, under the same `sys.stdout` and
`sys.stderr` a start with pipes builds), the test's environment, argv and working directory, then
`runpy.run_module("tap_aphex", run_name="__main__")`, and Python's own exit (atexit, flushes, the
exit status). Its exit status, stdout bytes and stderr are what the test reads, as from
`subprocess.run`.

What differs from an exec'd start is only when the modules were imported: none of them reads the
environment at import (the SDK and the tap read LOGLEVEL, SINGER_SDK_LOG_CONFIG and TAP_APHEX_* when
the command runs), and the import leaves no thread behind (the helper checks). Tests about what
happens while the process starts or ends (signals, a closed pipe, a kill) start it with
`subprocess`, as before: they are not run here. `APHEX_TESTS_NO_FORKSERVER=1` makes every run an
exec'd `python -m tap_aphex` again, to compare.
"""

from __future__ import annotations

import array
import json
import locale
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import typing as t

#: The helper's program, run with `python -c` (so that the child's `sys.path[0]` can be set as `-m`
#: sets it). It must stay single-threaded and register nothing at exit: its children inherit both.
HELPER = r"""
import array, json, os, runpy, signal, socket, sys, threading

import tap_aphex.tap  # what `tap-aphex` imports before it reads its arguments (load_command)

channel = socket.socket(fileno=int(sys.argv[1]))
# A thread left by the imports would not be in the children (a fork copies only the calling one):
# say so and stop, and the runs are exec'd as before.
if threading.active_count() != 1:
    sys.exit("the imports left a thread running: no forking")
channel.sendall(b"ready\n")


def receive():  # a request (its length first, then its JSON) and the descriptors sent with it
    fds = array.array("i")
    data, ancdata, _, _ = channel.recvmsg(1 << 16, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    while 0 < len(data) < 8 or len(data) < 8 + int.from_bytes(data[:8], "big"):
        more = channel.recv(1 << 16)
        if not more:
            return None, []
        data += more
    return (json.loads(data[8:]) if data else None), list(fds)


def child(request, fds):
    channel.close()
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)  # under the sys.stdin/stdout/stderr the interpreter built at start
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["-m", *request["args"]]
    sys.path[0] = os.getcwd()  # as `python -m` sets it
    runpy.run_module("tap_aphex", run_name="__main__", alter_sys=True)
    sys.exit(0)


while True:
    request, fds = receive()
    if request is None:  # the worker closed its end: the suite is over
        break
    pid = os.fork()
    if pid == 0:
        child(request, fds)  # ends the child's interpreter, as a `python -m` would end
    for fd in fds:
        os.close(fd)
    channel.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    channel.sendall(json.dumps({"status": status}).encode() + b"\n")
"""


class ForkServer:
    """One helper per test process; `run` is `subprocess.run([python, "-m", "tap_aphex", *args],
    capture_output=True, text=True, timeout=..., env=..., check=False)`."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.channel = ours
        self.python_variables = _python_variables(os.environ)  # what the helper starts with
        # Pipes for the helper's own stdout and stderr, as `subprocess.run(capture_output=True)`
        # gives a child: the interpreter sizes and buffers `sys.stdout` by what fd 1 is at start.
        self.helper = subprocess.Popen(
            [sys.executable, "-c", HELPER, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        theirs.close()
        self.replies = ours.makefile("rb")
        self.ready = self.replies.readline() == b"ready\n"
        self.lock = threading.Lock()  # the helper runs one child at a time

    def run(
        self, args: t.Sequence[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str] | None:
        """The finished run; None, with nothing started, while another of this process's threads
        has a run going: runs a test starts at once must run at once, so that one is exec'd."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            return self._run(list(args), env, timeout)
        finally:
            self.lock.release()

    def _run(
        self, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        request = json.dumps({"args": args, "env": env, "cwd": os.getcwd()}).encode()
        fds = array.array("i", [0, out_w, err_w])  # stdin: ours, as `subprocess.run` leaves it
        try:
            message = len(request).to_bytes(8, "big") + request
            sent = self.channel.sendmsg(
                [message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())]
            )
            self.channel.sendall(message[sent:])  # a large environment may not go in one call
        finally:
            os.close(out_w)
            os.close(err_w)
        pid = self._reply()["pid"]
        try:
            stdout, stderr = _read_both(out_r, err_r, time.monotonic() + timeout)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)  # the child we started, by its id
            self._reply()
            raise subprocess.TimeoutExpired(["tap_aphex", *args], timeout) from None
        status = self._reply()["status"]
        return subprocess.CompletedProcess(
            [sys.executable, "-m", "tap_aphex", *args],
            os.waitstatus_to_exitcode(status),
            _text(stdout),
            _text(stderr),
        )

    def _reply(self) -> dict[str, t.Any]:
        line = self.replies.readline()
        if not line:
            raise RuntimeError(f"the fork server ended: {self.helper.communicate()[1]!r}")
        return t.cast("dict[str, t.Any]", json.loads(line))

    def close(self) -> None:
        """End the helper and wait for it (so its children's CPU counts in the suite's)."""
        self.replies.close()
        self.channel.close()
        self.helper.communicate(timeout=30)


def _read_both(out: int, err: int, deadline: float) -> tuple[bytes, bytes]:
    """Both pipes to their end (the child's exit closes them), as `communicate` reads them."""
    chunks: dict[int, list[bytes]] = {out: [], err: []}
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired("tap_aphex", 0)
                for key, _ in selector.select(left):
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        selector.unregister(key.fd)
        finally:
            os.close(out)
            os.close(err)
    return b"".join(chunks[out]), b"".join(chunks[err])


def _text(data: bytes) -> str:
    """Bytes as `subprocess.run(text=True)` decodes them: the locale's encoding, universal
    newlines."""
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


_server: ForkServer | None = None


def server(environ: t.Mapping[str, str]) -> ForkServer | None:
    """This process's fork server (started on first use), or None where a run with the
    environment ``environ`` must be exec'd: when asked (`APHEX_TESTS_NO_FORKSERVER=1`), where there
    is no fork, where the helper could not start, or where a PYTHON* variable differs from the
    helper's (Python reads them as it starts, before any module: a forked child would miss it)."""
    global _server
    if os.environ.get("APHEX_TESTS_NO_FORKSERVER") or not hasattr(os, "fork"):
        return None
    if _server is None:
        _server = ForkServer()
    if not _server.ready or _python_variables(environ) != _server.python_variables:
        return None
    return _server


def _python_variables(environ: t.Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environ.items() if name.startswith("PYTHON")}


def stop() -> None:
    """End this process's fork server, if it started one."""
    global _server
    if _server is not None:
        _server.close()
        _server = None
