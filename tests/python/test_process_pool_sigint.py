"""Ctrl-C to a program that uses xfutures.ProcessPoolExecutor.

A child program, in a process group of its own, starts a pool of two
workers whose tasks report their pids and then block on a rendezvous that
never opens. Once the child has said (on its stdout pipe) that both tasks
run, SIGINT goes to the whole group, as a terminal's Ctrl-C would. The child
must leave with KeyboardInterrupt, its workers must be gone (neither running
nor left as zombies) and nothing of its process group may remain. It is done
ten times with a CPU hog beside it, so that the workers and the manager
thread are preempted at arbitrary points; every other time the interrupt
leaves a ``with`` block of the pool instead of ending the program with the
pool still open.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

ROUNDS = 10
# Generous bounds: they only turn a hang into a failure, and the machine may
# be loaded. Nothing is timed against them.
EXIT_BOUND = 60.0
GONE_BOUND = 30.0

CHILD = textwrap.dedent("""\
    import os
    import sys

    import xfutures


    def blocked(report, gate):
        # Say that this task runs, then wait on a rendezvous that never opens:
        # opening a FIFO for reading blocks until a writer comes, and none does.
        fd = os.open(report, os.O_WRONLY)
        os.write(fd, b"%d\\n" % os.getpid())
        os.close(fd)
        os.close(os.open(gate, os.O_RDONLY))
        return os.getpid()


    def wait_for(ex, report, gate, rfd):
        futures = [ex.submit(blocked, report, gate) for _ in range(2)]
        pids = set()
        buf = b""
        while len(pids) < 2:
            buf += os.read(rfd, 64)
            *lines, buf = buf.split(b"\\n")
            pids.update(int(line) for line in lines if line)
        print("running", *sorted(pids), flush=True)
        for f in futures:
            f.result()
        print("not interrupted", flush=True)


    if __name__ == "__main__":
        report, gate = sys.argv[1], sys.argv[2]
        # Read end first, non-blocking to open and kept open (O_RDWR), so the
        # workers' opens for writing never wait.
        rfd = os.open(report, os.O_RDWR)
        ex = xfutures.ProcessPoolExecutor(max_workers=2)
        if sys.argv[3] == "with":
            # The interrupt leaves the with block: the pool's __exit__ runs.
            with ex:
                wait_for(ex, report, gate, rfd)
        else:
            # The interrupt ends the program: the exit hook meets the pool.
            wait_for(ex, report, gate, rfd)
    """)


def proc_state(pid):
    """The state letter of /proc/<pid>/stat, or None when the pid is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def group_members(pgid):
    """{pid: state} of every process whose process group is pgid."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            out[int(entry)] = fields[0]
    return out


def wait_until(pred, bound):
    """Poll pred until it holds or bound seconds pass; its last value."""
    deadline = time.monotonic() + bound
    while True:
        got = pred()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


@pytest.fixture
def cpu_hog():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield hog
    hog.kill()
    hog.wait()


def one_round(python, tmp_path, n):
    report, gate = tmp_path / ("report%d" % n), tmp_path / ("gate%d" % n)
    os.mkfifo(report)
    os.mkfifo(gate)
    prog = tmp_path / "child.py"
    form = "with" if n % 2 else "plain"
    child = subprocess.Popen([python, str(prog), str(report), str(gate), form],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        line = child.stdout.readline().decode()
        assert line.startswith("running "), (line, child.stderr.read().decode())
        pids = [int(p) for p in line.split()[1:]]
        assert len(pids) == 2 and child.pid not in pids
        os.killpg(child.pid, signal.SIGINT)
        try:
            _out, err = child.communicate(timeout=EXIT_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail("round %d: the child did not exit after SIGINT; its group: %r"
                        % (n, group_members(child.pid)))
        err = err.decode()
        assert child.returncode != 0, err
        assert "KeyboardInterrupt" in err, err
        # The workers were the child's children: gone means reaped by it (or
        # by whoever inherited them), never left running or as zombies.
        left = wait_until(lambda: not any(proc_state(p) for p in pids), GONE_BOUND)
        assert left, "round %d: workers left behind: %r" % (
            n, {p: proc_state(p) for p in pids})
        assert wait_until(lambda: not group_members(child.pid), GONE_BOUND), \
            "round %d: the process group is not empty: %r" % (n, group_members(child.pid))
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        for p in group_members(child.pid):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_sigint_to_the_group_leaves_nothing(python, tmp_path, cpu_hog):
    (tmp_path / "child.py").write_text(CHILD)
    for n in range(ROUNDS):
        one_round(python, tmp_path, n)
