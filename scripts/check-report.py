#!/usr/bin/python3
"""Check that the benchmark report renders in headless Chromium.

    scripts/check-report.py [--build build/bench] [--screenshot PNG]

Loads <build>/report.html (scripts/bench-report.py writes it) in Debian's
chromium twice, each time with a fresh profile in a temporary directory:
once for a screenshot (<build>/report.png unless --screenshot says
otherwise; 1280x2400, the top of the page), once for the DOM after the
page's scripts ran. Fails when Chromium fails or times out, when the page
logs anything on its console but its own verdict (a script error, a
resource that failed to load: the page reports both), when the verdict the
page writes into body[data-report-check] is not "ok", or when the DOM has
no chart or no table.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]

# One console message as Chromium logs it on stderr:
#   [pid:tid:time:INFO:CONSOLE:12] "text", source: file:///.../report.html (12)
CONSOLE = re.compile(r':CONSOLE[:(][^\]]*\] "(.*)", source: (\S*)')


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(exe, url, extra, timeout):
    """Chromium's stdout and its console messages; raises RuntimeError."""
    profile = tempfile.mkdtemp(prefix="xf-check-report-")
    try:
        argv = [exe] + FLAGS + ["--user-data-dir=" + profile] + extra + [url]
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError("chromium timed out after %d s" % timeout)
        if proc.returncode != 0:
            raise RuntimeError("chromium exited with %d:\n%s" % (proc.returncode,
                                                               proc.stderr[-2000:]))
        return proc.stdout, [m.group(1) for m in CONSOLE.finditer(proc.stderr)]
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def check(page, png, timeout):
    """The problems found; empty when the page is fine."""
    exe = chromium()
    if exe is None:
        return ["chromium not found (scripts/install-deps.sh installs it)"]
    if not os.path.isfile(page):
        return ["%s does not exist" % page]
    url = "file://" + os.path.abspath(page)
    problems = []
    if os.path.exists(png):
        os.remove(png)
    try:
        _out, console = run(exe, url, ["--screenshot=" + png, "--window-size=1280,2400"],
                            timeout)
        dom, console2 = run(exe, url, ["--dump-dom", "--window-size=1280,2400"], timeout)
    except RuntimeError as e:
        return [str(e)]
    for msg in dict.fromkeys(console + console2):
        if not msg.startswith("report-check: ok"):
            problems.append("console: " + msg)
    if not os.path.isfile(png) or os.path.getsize(png) < 10000:
        problems.append("no screenshot (or an empty one) at %s" % png)
    verdict = re.search(r'<body[^>]*data-report-check="([^"]*)"', dom)
    if verdict is None:
        problems.append("the page's own check did not run (a script error?)")
    elif not verdict.group(1).startswith("ok"):
        problems.append("the page's own check: " + verdict.group(1))
    charts = len(re.findall(r'<figure class="chart"', dom))
    tables = len(re.findall(r"<table\b", dom))
    if charts == 0:
        problems.append("the page has no chart")
    if tables == 0:
        problems.append("the page has no table")
    if not problems:
        print("check-report: %s renders: %d charts, %d tables; screenshot %s" % (
            page, charts, tables, png), file=sys.stderr)
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "bench"))
    ap.add_argument("--screenshot", help="where the PNG goes (default <build>/report.png)")
    ap.add_argument("--timeout", type=int, default=120)
    args = ap.parse_args()
    page = os.path.join(args.build, "report.html")
    png = args.screenshot or os.path.join(args.build, "report.png")
    problems = check(page, png, args.timeout)
    for p in problems:
        print("check-report: FAILED %s" % p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
