"""Anchor for the loop_future workload: asyncio's C futures.

The same life cycle as loop_future in future_lifecycle.cpp: in batches of
1,000, make futures on the loop, add a done callback to each, finish them,
then run the loop once so that it runs the callbacks. ns per future; prints
one JSON line in the format of bench/bench.h. Run by bench/run.py with
/usr/bin/python3, --quick for the small size.
"""

import asyncio
import json
import os
import statistics
import sys
import time

QUICK = "--quick" in sys.argv[1:] or os.environ.get("XF_BENCH_QUICK", "0") not in ("", "0")
N = 20000 if QUICK else 2000000
REPS = 3 if QUICK else 5
BATCH = 1000


def once(loop, n):
    fired = 0

    def on_done(_f):
        nonlocal fired
        fired += 1

    batches = (n + BATCH - 1) // BATCH
    start = time.perf_counter_ns()
    for _ in range(batches):
        fs = [loop.create_future() for _ in range(BATCH)]
        for f in fs:
            f.add_done_callback(on_done)
        for f in fs:
            f.set_result(None)
        # stop is queued behind the callbacks, so one pass runs them all.
        loop.call_soon(loop.stop)
        loop.run_forever()
    elapsed = time.perf_counter_ns() - start
    if fired != batches * BATCH:
        sys.exit("asyncio_future: %d of %d callbacks ran" % (fired, batches * BATCH))
    return elapsed / (batches * BATCH)


def main():
    loop = asyncio.new_event_loop()
    c_future = asyncio.Future.__module__ == "_asyncio"
    once(loop, N // 10)
    values = sorted(once(loop, N) for _ in range(REPS))
    loop.close()
    impl = "asyncio.Future (C)" if c_future else "asyncio.Future (pure Python)"
    print(json.dumps({
        "program": "asyncio_future", "workload": "loop_future", "impl": impl,
        "unit": "ns/future", "value": statistics.median(values), "min": values[0],
        "max": values[-1], "n": N, "reps": REPS, "lower_is_better": True,
        "quick": QUICK, "python": sys.version.split()[0],
    }), flush=True)
    print("%-22s %-34s %12.1f ns/future" % ("loop_future", impl, statistics.median(values)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
