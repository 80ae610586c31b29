"""Behaviour seen from outside the process: Ctrl-C, interpreter exit, and the
seed programs of examples/python with the output the seeds promise."""
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"


def spawn(python, code, **kw):
    return subprocess.Popen([python, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ, **kw)


@pytest.mark.parametrize("call", ["f.result()", "xfutures.wait([f])",
                                  "list(xfutures.as_completed([f]))"])
def test_ctrl_c_interrupts_a_blocking_wait(python, call):
    code = ("import sys, xfutures\n"
            "f = xfutures.Future()\n"
            "print('ready', flush=True)\n"
            "try:\n"
            f"    {call}\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', flush=True)\n")
    p = spawn(python, code)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert time.monotonic() - t0 < 1.0
    assert "interrupted" in out, err
    assert p.returncode == 0


def test_exit_with_pending_futures_running_pools_and_loops(python):
    code = ("import asyncio, time, xfutures, xfutures.asyncio as xa\n"
            "pool = xfutures.ThreadPoolExecutor(2)\n"
            "fs = [pool.submit(time.sleep, 0.1) for _ in range(4)]\n"
            "fs[0].add_done_callback(lambda f: print('callback', flush=True))\n"
            "pending = xfutures.Future()\n"
            "pending.add_done_callback(print)\n"
            "async def main():\n"
            "    global keep\n"
            "    keep = xa.Future()\n"
            "    keep.add_done_callback(print)\n"
            "    xfutures.ThreadPoolExecutor(1).submit(time.sleep, 0.05)\n"
            "loop = asyncio.new_event_loop()\n"
            "loop.run_until_complete(main())\n"
            "print('exiting', flush=True)\n")
    p = spawn(python, code)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "exiting" in out and "callback" in out
    assert "Fatal" not in err and "Traceback" not in err


def run_example(python, name):
    r = subprocess.run([python, str(EXAMPLES / name)], capture_output=True, text=True,
                       timeout=60, env=os.environ)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return r.stdout.splitlines()


def test_seed_pool_as_completed(python):
    assert run_example(python, "pool_as_completed.py") == [str(i) for i in range(1, 11)]


def test_seed_to_thread_gather(python):
    assert run_example(python, "to_thread_gather.py") == ["[0, 900, 990000]"]


def test_seed_future_basics(python):
    assert run_example(python, "future_basics.py") == [
        "Finished!", "bar will sleep for 0.1 seconds", "foo will await the future",
        "bar resolving the future", "foo finds the future resolved", "main exiting"]


def test_seed_run_in_executor(python):
    out = run_example(python, "run_in_executor.py")
    assert out == [f"call {i} done" for i in range(4)] + ["4 blocking calls took under 0.6 s"]


def test_seed_callbacks_and_errors(python):
    out = run_example(python, "callbacks_and_errors.py")
    assert sorted(out) == sorted([
        "results: [1, 4, 16, 25]", "errors: ['task 3 failed', 'task 6 failed']",
        "callback: result 1", "callback: result 4", "callback: error task 3 failed",
        "callback: result 16", "callback: result 25", "callback: error task 6 failed"])


def test_seed_patterns(python):
    assert run_example(python, "patterns.py") == [
        "Future 1 -> Future 2 -> Future 3",
        "Caught exception: Something went wrong",
        "Callback caught: Another error",
        "Future timed out after 0.05 seconds",
        "Aggregated results: [1, 2], exceptions: ['three failed']",
        "First completed: racer 0; cancelled the other 2",
        "Waiter was cancelled",
        "Future cancelled: True",
        "Shielded waiter was cancelled",
        "But future was not: True",
        "Future cancelled: False",
        "Future result: Still usable!",
    ]


def test_seed_call_later(python):
    out = run_example(python, "call_later.py")
    assert out.count("callback ran on its loop's thread = True") == 2
    assert out[-4:] == ["Is loop running in thread MainThread = True",
                        "Is loop running in thread MainThread = True",
                        "coro exiting", "main exiting"]
