"""xfutures.ProcessPoolExecutor: tasks in worker processes (python3 -m
xfutures.worker) over the core's process pool.

Tasks that must be caught in the act report to the test through a FIFO and
then block on another one until the test releases them, so nothing here
depends on timing; every wait is bounded. After each test no worker process
and no file descriptor of the test's remains.
"""
import asyncio
import concurrent.futures
import concurrent.futures.process
import gc
import os
import select
import signal
import sys
import threading

import cloudpickle
import pytest

import xfutures

WAIT = 30  # seconds: only ever reached when something is broken

# The functions of this module cross by value, so that a worker does not
# import this module (and pytest with it).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Boom(Exception):
    """An exception class of the test's own."""


def raise_boom(message):
    raise Boom(message)


def getpid(_=None):
    return os.getpid()


def report_and_wait(report, release, text=None):
    """Write this worker's pid to the FIFO report, then wait for one byte on
    the FIFO release; text, if any, goes to stderr first."""
    if text:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    with open(report, "w") as f:
        f.write("%d\n" % os.getpid())
    with open(release, "rb") as f:
        f.read(1)
    return "released"


def fail_init(message):
    raise ValueError(message)


def remember(value):
    os.environ["XF_TEST_INITIALIZED"] = value


def initialized():
    return os.environ.get("XF_TEST_INITIALIZED")


def children():
    pids = set()
    for tid in os.listdir("/proc/self/task"):
        with open("/proc/self/task/%s/children" % tid) as f:
            pids.update(int(p) for p in f.read().split())
    return pids


def fds():
    """The open descriptors and what they are (less the one listing them)."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[int(fd)] = os.readlink("/proc/self/fd/" + fd)
        except FileNotFoundError:
            pass
    return out


# What xfutures.asyncio keeps of each asyncio loop that waited for an
# xfutures future: its C loop, whose descriptors outlive the asyncio loop
# (the same with a ThreadPoolExecutor; not the process pool's).
BRIDGE = ["anon_inode:[eventfd]", "anon_inode:[eventpoll]", "anon_inode:[timerfd]"]


@pytest.fixture(autouse=True)
def nothing_left(request):
    """Every test ends with no worker process alive and no descriptor open
    that was not open before it."""
    kids, before = children(), fds()
    yield
    # A pool holds its descriptors until it is freed, and an exception caught
    # by pytest.raises keeps the test's frame (and its pool) in a cycle.
    gc.collect()
    assert children() - kids == set()
    after = fds()
    if request.node.name == "test_run_in_executor":
        extra = {fd: link for fd, link in after.items() if fd not in before}
        assert sorted(extra.values()) in ([], BRIDGE)
        after = {fd: link for fd, link in after.items() if fd in before}
    assert after == before


def assert_broken(ex):
    """A broken pool refuses new work at once: the pool is broken before the
    failed futures wake their waiters."""
    with pytest.raises(concurrent.futures.process.BrokenProcessPool):
        ex.submit(pow, 2, 2)


class Gate:
    """Two FIFOs: tasks write their pid to one and wait on the other."""

    def __init__(self, tmp_path):
        self.report = str(tmp_path / "report")
        self.release_path = str(tmp_path / "release")
        os.mkfifo(self.report)
        os.mkfifo(self.release_path)
        # O_RDWR: neither end waits for the other to open.
        self._r = os.open(self.report, os.O_RDWR | os.O_NONBLOCK)
        self._w = os.open(self.release_path, os.O_RDWR)
        self._buf = b""

    def arrival(self):
        """The pid of the next task that reached the gate (bounded wait)."""
        while b"\n" not in self._buf:
            ready, _, _ = select.select([self._r], [], [], WAIT)
            assert ready, "no task reached the gate"
            self._buf += os.read(self._r, 4096)
        line, self._buf = self._buf.split(b"\n", 1)
        return int(line)

    def release(self, n=1):
        os.write(self._w, b"x" * n)

    # "with pool, gate:" releases every task before the pool waits for them,
    # also when the test fails half-way.
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release(64)

    def close(self):
        self.release(64)  # nothing stays blocked, whatever the test did
        os.close(self._r)
        os.close(self._w)


@pytest.fixture
def gate(tmp_path):
    g = Gate(tmp_path)
    yield g
    g.close()


def test_results_come_back_equal_and_of_their_type():
    values = [None, True, 7, -(1 << 63), 1 << 70, 2.5, "text", "\udcff", b"\0bytes",
              (1, "a"), [1, [2]], {"k": (1, 2)}, {3, 4}, Boom("as a value")]
    with xfutures.ProcessPoolExecutor(max_workers=2) as ex:
        futures = [ex.submit(lambda v: v, v) for v in values]
        assert all(isinstance(f, xfutures.Future) for f in futures)
        assert all(isinstance(f, concurrent.futures.Future) for f in futures)
        got = [f.result(timeout=WAIT) for f in futures]
        pid = ex.submit(getpid).result(timeout=WAIT)
    for want, have in zip(values[:-1], got[:-1]):
        assert have == want and type(have) is type(want)
    assert type(got[-1]) is Boom and got[-1].args == ("as a value",)
    assert pid != os.getpid()


def test_kwargs_and_lambdas_cross():
    with xfutures.ProcessPoolExecutor(max_workers=1) as ex:
        base = 10
        assert ex.submit(lambda x, *, y: x * y + base, 3, y=4).result(timeout=WAIT) == 22
        assert ex.submit(sorted, [3, 1, 2], reverse=True).result(timeout=WAIT) == [3, 2, 1]


def test_exceptions_come_back_as_themselves():
    with xfutures.ProcessPoolExecutor(max_workers=1) as ex:
        with pytest.raises(Boom, match="^bang$") as info:
            ex.submit(raise_boom, "bang").result(timeout=WAIT)
        assert "raise_boom" in str(info.value.__cause__)  # the remote traceback
        exc = ex.submit({}.__getitem__, "missing").exception(timeout=WAIT)
        assert type(exc) is KeyError and exc.args == ("missing",)
        with pytest.raises(ZeroDivisionError):
            ex.submit(lambda: 1 / 0).result(timeout=WAIT)
        # The worker goes on after its tasks fail.
        assert ex.submit(pow, 2, 5).result(timeout=WAIT) == 32


def test_map_chunks_keep_the_order():
    with xfutures.ProcessPoolExecutor(max_workers=2) as ex:
        for chunksize in (1, 3, 100):
            got = list(ex.map(lambda a, b: (a, b, os.getpid()), range(20), "abcdefghijklmnopqrst",
                              chunksize=chunksize, timeout=WAIT))
            assert [(a, b) for a, b, _ in got] == list(zip(range(20), "abcdefghijklmnopqrst"))
        # A chunk is one task: the items of a chunk share their worker.
        got = list(ex.map(getpid, range(8), chunksize=4))
        assert len(set(got[:4])) == 1 and len(set(got[4:])) == 1
        with pytest.raises(ValueError):
            ex.map(abs, [1], chunksize=0)
        it = ex.map(raise_boom, ["first", "second"])
        with pytest.raises(Boom, match="first"):
            next(it)


def test_map_timeout(gate):
    with xfutures.ProcessPoolExecutor(max_workers=1) as ex, gate:
        it = ex.map(report_and_wait, [gate.report], [gate.release_path], timeout=0.05)
        gate.arrival()
        with pytest.raises(concurrent.futures.TimeoutError):
            next(it)
        gate.release()


def test_sigkill_mid_task_breaks_the_pool(gate):
    with xfutures.ProcessPoolExecutor(max_workers=2) as ex, gate:
        fut = ex.submit(report_and_wait, gate.report, gate.release_path, "last words")
        pid = gate.arrival()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(concurrent.futures.process.BrokenProcessPool) as info:
            fut.result(timeout=WAIT)
        message = str(info.value)
        assert str(pid) in message and "signal 9" in message
        assert "last words" in message  # the tail of the worker's stderr
        assert_broken(ex)
    assert xfutures.BrokenProcessPool is concurrent.futures.process.BrokenProcessPool


def test_sigkill_mid_task_with_replace_fails_that_task_only(gate):
    with xfutures.ProcessPoolExecutor(max_workers=1, on_worker_death="replace") as ex, gate:
        fut = ex.submit(report_and_wait, gate.report, gate.release_path)
        queued = ex.submit(pow, 2, 5)
        pid = gate.arrival()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(concurrent.futures.process.BrokenProcessPool) as info:
            fut.result(timeout=WAIT)
        assert "replaces the worker" in str(info.value)
        # A new worker runs what was queued, and later work too.
        assert queued.result(timeout=WAIT) == 32
        assert ex.submit(os.getpid).result(timeout=WAIT) != pid
    with pytest.raises(ValueError):
        xfutures.ProcessPoolExecutor(on_worker_death="retry")


def test_task_timeout_kills_and_replaces_the_worker(gate):
    with xfutures.ProcessPoolExecutor(max_workers=1) as ex, gate:
        # The task is never released: the timeout is its only way to end.
        fut = ex.submit_with_timeout(0.2, report_and_wait, gate.report, gate.release_path)
        pid = gate.arrival()
        with pytest.raises(TimeoutError):
            fut.result(timeout=WAIT)
        assert ex.submit(os.getpid).result(timeout=WAIT) != pid
        assert ex.submit_with_timeout(WAIT, pow, 2, 3).result(timeout=WAIT) == 8
        assert ex.stats()["timeouts"] == 1
        with pytest.raises(ValueError):
            ex.submit_with_timeout(-1, pow, 2, 3)


def test_workers_ignore_sigint(gate):
    with xfutures.ProcessPoolExecutor(max_workers=1) as ex, gate:
        fut = ex.submit(report_and_wait, gate.report, gate.release_path)
        os.kill(gate.arrival(), signal.SIGINT)  # Ctrl-C is for the parent
        gate.release()
        assert fut.exception(timeout=WAIT) is None  # no KeyboardInterrupt
        assert fut.result(timeout=WAIT) == "released"
        assert ex.stats()["deaths"] == 0


def test_workers_import_from_the_parents_sys_path(tmp_path, monkeypatch):
    (tmp_path / "xf_pp_only_here.py").write_text(
        "import os\ndef where():\n    return __file__, os.getpid()\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # not in PYTHONPATH
    import xf_pp_only_here
    try:
        with xfutures.ProcessPoolExecutor(max_workers=1) as ex:
            path, pid = ex.submit(xf_pp_only_here.where).result(timeout=WAIT)
        assert path == xf_pp_only_here.__file__ and pid != os.getpid()
    finally:
        del sys.modules["xf_pp_only_here"]


def test_a_failing_initializer_breaks_the_pool():
    with xfutures.ProcessPoolExecutor(max_workers=1, initializer=fail_init,
                                      initargs=("no good",)) as ex:
        fut = ex.submit(pow, 2, 2)
        with pytest.raises(concurrent.futures.process.BrokenProcessPool, match="no good"):
            fut.result(timeout=WAIT)
        with pytest.raises(concurrent.futures.process.BrokenProcessPool):
            ex.submit(pow, 2, 2)


def test_the_initializer_runs_before_the_tasks():
    with xfutures.ProcessPoolExecutor(max_workers=1, initializer=remember,
                                      initargs=("ready",)) as ex:
        assert ex.submit(initialized).result(timeout=WAIT) == "ready"
    with pytest.raises(TypeError):
        xfutures.ProcessPoolExecutor(initializer=42)


def test_max_tasks_per_child_recycles_workers():
    with xfutures.ProcessPoolExecutor(max_workers=1, max_tasks_per_child=2) as ex:
        pids = [ex.submit(getpid).result(timeout=WAIT) for _ in range(6)]
        assert ex.stats()["retired"] >= 2
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5]
    assert len({pids[0], pids[2], pids[4]}) == 3
    with pytest.raises(ValueError):
        xfutures.ProcessPoolExecutor(max_tasks_per_child=0)


def test_shutdown_cancel_futures(gate):
    ex = xfutures.ProcessPoolExecutor(max_workers=1)
    try:
        running = ex.submit(report_and_wait, gate.report, gate.release_path)
        gate.arrival()
        queued = [ex.submit(pow, 2, i) for i in range(5)]
        assert queued[0].cancel() and not running.cancel()
        ex.shutdown(wait=False, cancel_futures=True)
        assert all(f.cancelled() for f in queued)
        with pytest.raises(RuntimeError, match="after shutdown"):
            ex.submit(pow, 2, 2)
        gate.release()
        assert running.result(timeout=WAIT) == "released"
    finally:
        gate.release()
        ex.shutdown(wait=True)


def test_unpicklable_task_fails_its_own_future_only():
    lock = threading.Lock()
    with xfutures.ProcessPoolExecutor(max_workers=1) as ex:
        bad_arg = ex.submit(id, lock)
        # exception() rather than result(): raising the exception the core
        # keeps would add this frame to its traceback, in a cycle that the
        # collector cannot see through the core.
        exc = bad_arg.exception(timeout=WAIT)
        assert isinstance(exc, TypeError) and "pickle" in str(exc)
        bad_result = ex.submit(threading.Lock)
        with pytest.raises(TypeError, match="pickle"):
            bad_result.result(timeout=WAIT)
        assert ex.submit(pow, 3, 3).result(timeout=WAIT) == 27


def test_run_in_executor():
    async def main(ex):
        loop = asyncio.get_running_loop()
        got = await asyncio.wait_for(loop.run_in_executor(ex, pow, 3, 4), WAIT)
        with pytest.raises(Boom):
            await asyncio.wait_for(loop.run_in_executor(ex, raise_boom, "async"), WAIT)
        return got

    with xfutures.ProcessPoolExecutor(max_workers=1) as ex:
        assert asyncio.run(main(ex)) == 81


def test_terminate_and_kill_workers(gate):
    for stop in ("terminate_workers", "kill_workers"):
        ex = xfutures.ProcessPoolExecutor(max_workers=1)
        fut = ex.submit(report_and_wait, gate.report, gate.release_path)
        queued = ex.submit(pow, 2, 2)
        gate.arrival()
        getattr(ex, stop)()
        with pytest.raises(concurrent.futures.process.BrokenProcessPool):
            fut.result(timeout=WAIT)
        assert queued.cancelled()
        with pytest.raises(RuntimeError):
            ex.submit(pow, 2, 2)
        ex.shutdown()


def test_mp_context_is_accepted_and_workers_are_spawned():
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    with xfutures.ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                                      max_tasks_per_child=1) as ex:
        # A spawned interpreter, not a fork: this module's state is not there.
        assert ex.submit(lambda: "pytest" in sys.modules).result(timeout=WAIT) is False
    with pytest.raises(ValueError):
        xfutures.ProcessPoolExecutor(max_workers=0)


def test_stats_count_the_tasks_of_each_worker():
    with xfutures.ProcessPoolExecutor(max_workers=1) as ex:
        pids = {ex.submit(getpid).result(timeout=WAIT) for _ in range(5)}
        workers = ex.stats()["workers"]
    assert len(pids) == 1
    assert workers == [{"pid": pids.pop(), "tasks_done": 5, "running": 0}]
