"""os.fork() while an xfutures pool is busy: the child must be able to exit.

The child of a fork has none of the parent's threads. An xfutures pool it
inherits must not make it wait for them: not when the child shuts the pool
down, and not at interpreter exit, when the binding joins the pools that are
still open (as concurrent.futures does). Each scenario runs in a fresh
interpreter, so that the forked children are not copies of pytest.
"""
import subprocess
import sys
import textwrap

SCENARIO = textwrap.dedent(r"""
    import os, sys, threading, time, warnings
    import xfutures

    # Forking a process that has threads is what this test is about.
    warnings.simplefilter("ignore", DeprecationWarning)

    pool = xfutures.ThreadPoolExecutor(max_workers=3)
    stop = threading.Event()
    release = threading.Event()

    # One worker is always inside a task while another thread keeps the
    # pool's lock busy with short tasks.
    busy = pool.submit(release.wait)

    def churn():
        while not stop.is_set():
            pool.submit(pow, 2, 10)

    churner = threading.Thread(target=churn)
    churner.start()

    def finish(code, message):
        # Let the parent's own threads and pool end, so that it can exit.
        stop.set()
        churner.join()
        release.set()
        busy.result(timeout=60)
        pool.shutdown()
        print(message)
        sys.exit(code)

    for i in range(int(sys.argv[1])):
        pid = os.fork()
        if pid == 0:
            # The child: the inherited pool refuses work, and the child
            # leaves the interpreter the normal way, through the at-exit
            # join of every open pool. A new pool works.
            try:
                pool.submit(pow, 2, 3)
            except xfutures.BrokenThreadPool:
                pass
            else:
                raise SystemExit(3)
            with xfutures.ThreadPoolExecutor(max_workers=2) as fresh:
                if fresh.submit(pow, 2, 5).result(timeout=60) != 32:
                    raise SystemExit(4)
            sys.exit(0)
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                finish(1, "child %d hangs" % i)
            time.sleep(0.005)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            finish(2, "child %d ended with status %#x" % (i, status))

    finish(0, "ok")
""")


def test_fork_while_pool_busy(python):
    proc = subprocess.run([python, "-c", SCENARIO, "20"], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
