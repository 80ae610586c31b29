"""The Python runner of the scenario matrix.

    python3 runner.py SCENARIO.json

Runs one scenario through the public API of the ``xfutures`` package (and
``xfutures.asyncio``) inside a running asyncio loop, which is the owner loop:
done callbacks added from it run on its thread. Prints one JSON line: the
observations, one per step, in the shared result format (tests/matrix/README.md).
"""

import asyncio
import builtins
import ctypes
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

import xfutures
import xfutures.asyncio as xa

MAIN = threading.get_ident()
LIBC = ctypes.CDLL(None)
USLEEP = LIBC.usleep
USLEEP.argtypes = [ctypes.c_uint32]
USLEEP.restype = ctypes.c_int

RETURN_WHEN = {"ALL_COMPLETED": xfutures.ALL_COMPLETED,
               "FIRST_COMPLETED": xfutures.FIRST_COMPLETED,
               "FIRST_EXCEPTION": xfutures.FIRST_EXCEPTION}


class NotAvailable(Exception):
    """The public API of this language has no such feature."""


# The named tasks of the process-pool scenarios. They are functions of this
# script (__main__), so they cross to the workers pickled by value.
def task_add(a, b):
    return a + b


def task_fail(message):
    raise ValueError(message)


def task_pid():
    return os.getpid()


def task_block(ready, go):
    """Tell the worker's pid through the FIFO ready, then wait until the
    runner writes to the FIFO go and closes it."""
    with open(ready, "w") as fh:
        fh.write(str(os.getpid()))
    with open(go) as fh:
        fh.read()
    return 0


class Blocked:
    """A blocked task's FIFOs, and its worker's pid once it has told it."""

    def __init__(self, directory, name):
        self.ready = os.path.join(directory, name + ".ready")
        self.go = os.path.join(directory, name + ".go")
        os.mkfifo(self.ready)
        os.mkfifo(self.go)
        self.pid = None


class Opaque:
    """A value that cannot be data: an instance of a class of this script."""

    def __init__(self, tag):
        self.tag = tag


SPECIAL_DOUBLES = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "-0": -0.0}


def decode(v):
    """A scenario value as a Python value."""
    if isinstance(v, dict):
        if "double" in v:
            d = v["double"]
            return SPECIAL_DOUBLES[d] if isinstance(d, str) else float(d)
        if "int" in v:
            return int(v["int"])
        if "bytes" in v:
            return bytes.fromhex(v["bytes"])
        if "map" in v:
            return {decode(k): decode(x) for k, x in v["map"]}
        if "opaque" in v:
            return Opaque(v["opaque"])
        if "pointer" in v:
            raise NotAvailable("Python has no value for a null pointer: None is void")
        raise ValueError("unknown value %r" % (v,))
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v


def encode_error(e):
    if isinstance(e, asyncio.CancelledError) or isinstance(e, xfutures.CancelledError):
        return {"cancelled": True}
    name = e.type_name if isinstance(e, xfutures.Error) else type(e).__name__
    if name == "TimeoutError":
        return {"error": {"type": name}}
    message = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
    return {"error": {"type": name, "message": message}}


def encode(v):
    """A Python value in the shared result format."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if abs(v) <= 2 ** 53 - 1 else {"int": str(v)}
    if isinstance(v, float):
        if v != v:
            return {"double": "nan"}
        if v in (float("inf"), float("-inf")):
            return {"double": "inf" if v > 0 else "-inf"}
        if v == 0 and str(v).startswith("-"):
            return {"double": "-0"}
        return {"double": v}
    if isinstance(v, dict):
        return {"map": [[encode(k), encode(x)] for k, x in v.items()]}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    if isinstance(v, BaseException):
        return encode_error(v)
    return {"object": type(v).__name__}


def error_class(name):
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls
    return type(name, (Exception,), {})


class Runner:
    def __init__(self):
        self.fs = {}
        self.pools = {}
        self.timers = {}
        self.cbs = {}
        self.log = []
        self.blocked = {}
        self.fifo_dir = None
        self.set_values = {}

    def state(self, f):
        if f.cancelled():
            return "cancelled"
        if f.done():
            return "finished"
        if isinstance(f, xfutures.Future) and f.running():
            return "running"
        return "pending"

    async def settle_on(self, f, timeout_ms):
        """Run the loop until f is done or timeout_ms passed."""
        if f.done():
            return
        aw = xa.wrap_future(f) if isinstance(f, xfutures.Future) else f
        await asyncio.wait({aw}, timeout=None if timeout_ms is None else timeout_ms / 1000)

    def outcome(self, f):
        if not f.done():
            return {"timeout": True}
        if f.cancelled():
            return {"cancelled": True}
        e = f.exception()
        if e is not None:
            return encode_error(e)
        return {"value": encode(f.result())}

    def callback(self, tag):
        def fn(_f):
            on_main = threading.get_ident() == MAIN
            self.log.append(tag if on_main else tag + "@other-thread")
        return fn

    async def step(self, s):
        op = s["op"]
        fs = self.fs
        if op == "future":
            fs[s["f"]] = xfutures.Future()
        elif op in ("set_result", "set_error"):
            f = fs[s["f"]]
            try:
                if op == "set_result":
                    value = decode(s["value"])
                    self.set_values[s["f"]] = value
                    f.set_result(value)
                else:
                    f.set_exception(error_class(s["type"])(s["message"]))
            except xfutures.InvalidStateError:
                return {"raised": "InvalidStateError"}
        elif op == "cancel":
            return fs[s["f"]].cancel()
        elif op == "core_repr":
            core_repr = getattr(xfutures, "core_repr", None)
            if core_repr is None:
                raise RuntimeError("xfutures.core_repr is missing")
            kind, text = core_repr(fs[s["f"]])
            return [kind, text.replace("object(python)", "object(own)")]
        elif op == "same_value":
            return fs[s["f"]].result() is self.set_values[s["f"]]
        elif op == "state":
            return self.state(fs[s["f"]])
        elif op == "outcome":
            f = fs[s["f"]]
            await self.settle_on(f, s.get("timeout_ms"))
            return self.outcome(f)
        elif op == "error_type":
            f = fs[s["f"]]
            await self.settle_on(f, 2000)
            e = f.exception()
            return e.type_name if isinstance(e, xfutures.Error) else type(e).__name__
        elif op == "add_callback":
            key = (s["f"], s["tag"])
            fn = self.cbs.setdefault(key, self.callback(s["tag"]))
            fs[s["f"]].add_done_callback(fn)
        elif op == "remove_callback":
            key = (s["f"], s["tag"])
            fn = self.cbs.setdefault(key, self.callback(s["tag"]))
            return fs[s["f"]].remove_done_callback(fn)
        elif op == "settle":
            await asyncio.sleep(s["ms"] / 1000)
        elif op == "log":
            out, self.log = self.log, []
            return out
        elif op == "pool":
            self.pools[s["p"]] = xfutures.ThreadPoolExecutor(
                max_workers=s["workers"], max_queue=s.get("max_queue", 0),
                queue_policy=s.get("policy", "block"))
        elif op == "submit":
            try:
                fs[s["f"]] = self.pools[s["p"]].submit_native(
                    USLEEP, "int32(uint32)", s["sleep_ms"] * 1000)
            except xfutures.QueueFull:
                return {"raised": "QueueFull"}
            except RuntimeError:
                return {"raised": "ShutdownError"}
        elif op == "shutdown":
            self.pools[s["p"]].shutdown(wait=s["wait"], cancel_futures=s["cancel_futures"])
        elif op == "map":
            return list(self.pools[s["p"]].map(USLEEP, [ms * 1000 for ms in s["sleeps_ms"]]))
        elif op == "wait":
            named = {fs[n]: n for n in s["fs"]}
            t = s.get("timeout_ms")
            done, not_done = xfutures.wait(list(named), None if t is None else t / 1000,
                                           RETURN_WHEN[s["return_when"]])
            return {"done": sorted(named[f] for f in done),
                    "not_done": sorted(named[f] for f in not_done)}
        elif op == "as_completed":
            named = {fs[n]: n for n in s["fs"]}
            t = s.get("timeout_ms")
            order = []
            try:
                for f in xfutures.as_completed(list(named), None if t is None else t / 1000):
                    order.append(named[f])
            except xfutures.TimeoutError:
                order.append("TimeoutError")
            return order
        elif op == "gather":
            fs[s["f"]] = xfutures.gather([fs[n] for n in s["fs"]], return_exceptions=s["collect"])
        elif op == "first":
            fs[s["f"]] = xfutures.first([fs[n] for n in s["fs"]], cancel_rest=s["cancel_rest"])
        elif op == "any":
            fs[s["f"]] = xfutures.any([fs[n] for n in s["fs"]], cancel_rest=s["cancel_rest"])
        elif op == "then":
            src, add = fs[s["src"]], s["add"]

            async def continuation():
                return (await src) + add
            fs[s["f"]] = asyncio.ensure_future(continuation())
        elif op == "chain":
            xfutures.chain(fs[s["src"]], fs[s["dst"]])
        elif op == "shield":
            fs[s["f"]] = xfutures.shield(fs[s["src"]])
        elif op == "timeout":
            fs[s["f"]] = asyncio.ensure_future(xa.wait_for(fs[s["src"]], s["timeout_ms"] / 1000))
        elif op == "timer":
            tag = s["tag"]

            async def timer(delay=s["ms"] / 1000):
                await xa.sleep(delay)
                self.log.append(tag)
            t = asyncio.ensure_future(timer())
            if "h" in s:
                self.timers[s["h"]] = t
        elif op == "cancel_timer":
            self.timers[s["h"]].cancel()
        elif op == "thread_set":
            f, v, delay = fs[s["f"]], decode(s["value"]), s["delay_ms"] / 1000

            def finish():
                time.sleep(delay)
                f.set_result(v)
            threading.Thread(target=finish).start()
        elif op == "closure_call":
            tag = s["tag"]

            def add(a, b):
                self.log.append(tag if threading.get_ident() == MAIN else tag + "@other-thread")
                return a + b
            cb = xfutures.callback("int64(int64, int64)", add)
            fs[s["f"]] = self.pools[s["p"]].submit_native(cb, cb.signature, *s["args"])
        elif op == "task":
            awaited = [fs[n] for n in s["awaits"]]

            async def task():
                return [await f for f in awaited]
            fs[s["f"]] = asyncio.ensure_future(task())
        elif op == "process_pool":
            self.pools[s["p"]] = xfutures.ProcessPoolExecutor(
                max_workers=s["workers"], max_tasks_per_child=s.get("max_tasks_per_child"),
                on_worker_death=s.get("on_worker_death", "break"))
        elif op == "process_submit":
            task = s["task"]
            if task == "add":
                fn, args = task_add, s["args"]
            elif task == "fail":
                fn, args = task_fail, [s["message"]]
            elif task == "pid":
                fn, args = task_pid, []
            elif task == "block":
                if self.fifo_dir is None:
                    self.fifo_dir = tempfile.mkdtemp(prefix="xf-matrix-")
                b = self.blocked[s["f"]] = Blocked(self.fifo_dir, s["f"])
                fn, args = task_block, [b.ready, b.go]
            else:
                raise ValueError("unknown task %r" % (task,))
            try:
                fs[s["f"]] = self.pools[s["p"]].submit(fn, *args)
            except xfutures.BrokenProcessPool:
                return {"raised": "BrokenProcessPool"}
            except RuntimeError:
                return {"raised": "ShutdownError"}
        elif op == "process_running":
            b = self.blocked[s["f"]]
            with open(b.ready) as fh:
                b.pid = int(fh.read())
        elif op == "process_release":
            with open(self.blocked[s["f"]].go, "w") as fh:
                fh.write("go")
        elif op == "process_kill":
            os.kill(self.blocked[s["f"]].pid, signal.SIGKILL)
        elif op == "same_worker":
            a, b = fs[s["f"]], fs[s["g"]]
            return a.result(timeout=10) == b.result(timeout=10)
        else:
            raise ValueError("unknown op %r" % (op,))
        return "ok"

    async def run(self, scenario):
        obs = []
        for s in scenario["steps"]:
            obs.append(await self.step(s))
        for p in self.pools.values():
            p.shutdown(wait=True, cancel_futures=True)
        if self.fifo_dir is not None:
            shutil.rmtree(self.fifo_dir)
        return obs


def main():
    with open(sys.argv[1], encoding="utf-8") as fh:
        scenario = json.load(fh)
    try:
        result = {"status": "ran", "obs": asyncio.run(Runner().run(scenario))}
    except NotAvailable as e:
        result = {"status": "na", "reason": str(e)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
