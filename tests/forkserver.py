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

What differs from an exec'd start is when the interpreter started and the modules were imported:
with the helper's environment, not the run's. The interpreter reads some variables as it starts
(PYTHON*, LANG, LC_*, TZ...) and a module may read one at import (ijson reads IJSON_BACKEND), so a
run is forked only when its environment differs from the helper's in nothing but variables the tap
and the SDK read when the command runs (`RUN_TIME_VARIABLES`: TAP_APHEX_*, SINGER_SDK_*, LOGLEVEL;
and pytest's PYTEST_CURRENT_TEST); any other difference and it is exec'd. The helper also refuses to
serve (and every run is exec'd, so that the output shows where the test sees it) when its imports
left a thread (a fork copies only the calling one), warned, or wrote anything to its stdout or
stderr: a user's start would show that output, a forked run's stderr would not hold it. Tests about
what happens while the process starts or ends (signals, a closed pipe, a kill) start it with
`subprocess`, as before: they are not run here. `APHEX_TESTS_NO_FORKSERVER=1` makes every run an
exec'd `python -m tap_aphex` again, to compare.
"""

from __future__ import annotations

import contextlib
import json
import locale
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import typing as t

#: Variables read only when the command runs (by `tap_aphex.cli`, the SDK's logging and its
#: settings from the environment), never at import or as the interpreter starts, and pytest's
#: PYTEST_CURRENT_TEST (it changes with every test; nothing in a run reads it): a run whose
#: environment differs from the helper's only in these may be forked.
RUN_TIME_VARIABLES = ("TAP_APHEX_", "SINGER_SDK_", "LOGLEVEL", "PYTEST_CURRENT_TEST")

#: The helper's program, run with `python -c` (so that the child's `sys.path[0]` can be set as `-m`
#: sets it). It must stay single-threaded and register nothing at exit: its children inherit both.
HELPER = r"""
import gc, json, os, runpy, socket, sys, threading, warnings

channel = socket.socket(fileno=int(sys.argv[1]))
# What the imports warn would be on a user's stderr, not on a forked run's: recorded here (with the
# filters a start has), it stops the helper, and the runs are exec'd, where the tests see it.
with warnings.catch_warnings(record=True) as caught:
    import tap_aphex.tap  # what `tap-aphex` imports before it reads its arguments (load_command)
sys.stdout.flush()  # anything printed is in the pipes before "ready": the worker looks there
sys.stderr.flush()
if caught:
    sys.exit("the imports warned: no forking: " + "; ".join(str(w.message) for w in caught))
# A thread left by the imports would not be in the children (a fork copies only the calling one).
if threading.active_count() != 1:
    sys.exit("the imports left a thread running: no forking")
# What the imports built lives as long as any run's copy of it, and a run's cyclic collector never
# frees it: frozen, the collections in a child (as it runs and as it ends) leave it alone,
# instead of writing to every object of it and so copying every page the fork shared (this was most
# of a forked run's CPU, 0.1 s against 0.04 s frozen). What a run itself creates is collected as in
# an exec'd start.
gc.freeze()
channel.sendall(b"ready\n")


def receive():  # a request (one line of JSON) and the descriptors sent with it
    data, fds, _, _ = socket.recv_fds(channel, 1 << 16, 3)
    while data and not data.endswith(b"\n"):
        more = channel.recv(1 << 16)
        if not more:
            return None, []
        data += more
    return (json.loads(data) if data else None), fds


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
        self.environment = dict(os.environ)  # what the helper starts with
        # Pipes for the helper's own stdout and stderr, as `subprocess.run(capture_output=True)`
        # gives a child: the interpreter sizes and buffers `sys.stdout` by what fd 1 is at start.
        self.helper = subprocess.Popen(
            [sys.executable, "-c", HELPER, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        theirs.close()
        self.lock = threading.Lock()  # the helper runs one child at a time
        self.replies = ours.makefile("rb")
        said = self.replies.readline()
        printed = _pending(self.helper)  # what its imports wrote: a user's start would show it
        self.ready = said == b"ready\n" and not printed
        #: Why the helper does not serve (for the test that expects it to), or "".
        self.refusal = ""
        if not self.ready:
            self.refusal = (said + printed).decode(errors="replace") + self.close()

    def forks_with(self, environ: t.Mapping[str, str]) -> bool:
        """Whether a run with ``environ`` would start as an exec'd one does: they differ from the
        helper's environment only in what is read at run time."""
        return _fixed(environ) == _fixed(self.environment)

    def run(
        self, args: t.Sequence[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str] | None:
        """The finished run; None, with nothing started, while another of this process's threads
        has a run going (runs a test starts at once must run at once, so that one is exec'd) or
        once the helper is out of use."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            return self._run(list(args), env, timeout) if self.ready else None
        finally:
            self.lock.release()

    def _run(
        self, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tap_aphex", *args]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        request = json.dumps({"args": args, "env": env, "cwd": os.getcwd()}).encode() + b"\n"
        # The child's stdin is ours, as `subprocess.run` leaves it; /dev/null where ours is closed
        # (a descriptor that is not open cannot be sent).
        stdin = 0 if _is_open(0) else os.open(os.devnull, os.O_RDONLY)
        try:
            sent = socket.send_fds(self.channel, [request], [stdin, out_w, err_w])
            self.channel.sendall(request[sent:])  # a large environment may not go in one call
            pid = self._reply()["pid"]
        except BaseException:
            # Whether the helper has the request, or a child started, is unknown: no more runs.
            self.ready = False
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            for fd in {out_w, err_w, stdin} - {0}:
                os.close(fd)
        try:
            stdout, stderr = _read_both(out_r, err_r, time.monotonic() + timeout, command)
        except BaseException as error:
            # A timeout, an interrupt, a failed read: the child is killed and its status read, so
            # that the next run's first reply is its own.
            try:
                with contextlib.suppress(ProcessLookupError):  # it may have ended (and been reaped)
                    os.kill(pid, signal.SIGKILL)  # the child we started, by its id
                self._reply()
            except BaseException:
                self.ready = False  # its status may be unread: the next runs are exec'd
            if isinstance(error, subprocess.TimeoutExpired):
                raise subprocess.TimeoutExpired(command, timeout) from None
            raise
        try:
            status = self._reply()["status"]
        except BaseException:
            self.ready = False  # a reply half read: the next one cannot be trusted
            raise
        return subprocess.CompletedProcess(
            command, os.waitstatus_to_exitcode(status), _text(stdout), _text(stderr)
        )

    def _reply(self) -> dict[str, t.Any]:
        line = self.replies.readline()
        if not line:
            raise RuntimeError(f"the fork server ended: {self.helper.communicate()[1]!r}")
        return t.cast("dict[str, t.Any]", json.loads(line))

    def close(self) -> str:
        """End the helper and wait for it (so its children's CPU counts in the suite's); what it
        wrote to stderr since."""
        self.ready = False
        self.replies.close()
        self.channel.close()
        try:
            _, err = self.helper.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.helper.kill()  # our own helper, by its id: stuck on a child that does not end
            _, err = self.helper.communicate()
        return (err or b"").decode(errors="replace")


def _fixed(environ: t.Mapping[str, str]) -> dict[str, str]:
    """The variables that may be read before the command runs: all but `RUN_TIME_VARIABLES`."""
    return {
        name: value for name, value in environ.items() if not name.startswith(RUN_TIME_VARIABLES)
    }


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _pending(process: subprocess.Popen[bytes]) -> bytes:
    """What ``process`` has written to its stdout and stderr pipes so far (without waiting)."""
    data = b""
    for pipe in (process.stdout, process.stderr):
        assert pipe is not None
        while select.select([pipe], [], [], 0)[0] and (chunk := os.read(pipe.fileno(), 1 << 16)):
            data += chunk
    return data


def _read_both(out: int, err: int, deadline: float, command: list[str]) -> tuple[bytes, bytes]:
    """Both pipes to their end (the child's exit closes them), as `communicate` reads them."""
    chunks: dict[int, list[bytes]] = {out: [], err: []}
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(command, 0)
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
_starting = threading.Lock()  # two threads asking at once start one helper


def server(environ: t.Mapping[str, str]) -> ForkServer | None:
    """This process's fork server (started on first use), or None where a run with the
    environment ``environ`` must be exec'd: when asked (`APHEX_TESTS_NO_FORKSERVER=1`), where there
    is no fork, where the helper does not serve, or where ``environ`` differs from the helper's in
    a variable read before the command runs (`ForkServer.forks_with`)."""
    if os.environ.get("APHEX_TESTS_NO_FORKSERVER") or not hasattr(os, "fork"):
        return None
    running = started()
    if not running.ready or not running.forks_with(environ):
        return None
    return running


def started() -> ForkServer:
    """This process's fork server, started if it was not (whether it serves: `.ready`)."""
    global _server
    with _starting:
        if _server is None:
            _server = ForkServer()
        return _server


def stop() -> None:
    """End this process's fork server, if it started one."""
    global _server
    with _starting:
        if _server is not None:
            _server.close()
            _server = None
