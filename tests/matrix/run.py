#!/usr/bin/env python3
"""The scenario matrix: every scenario in every language, one table.

    python3 tests/matrix/run.py --build build/default [--lang c,python] [-k NAME]

Runs each scenario of tests/matrix/scenarios/ with each language's runner
(one process per scenario and language), checks each runner's observations
against the scenario's expectations and against the other languages, prints
the scenario x language table, writes <build>/matrix/report.html and
<build>/matrix/junit.xml, and exits non-zero when any cell fails or two
languages disagree. A cell is "n/a" only when the runner says the language's
public API lacks the feature and that absence is listed in NOT_AVAILABLE
below; any other n/a is a failure. The one-process host (host/) adds a row
of its own. Standard library only.
"""

import argparse
import collections
import concurrent.futures
import html
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LANGS = ["c", "python", "lua", "node"]

# What a language's public API genuinely lacks: (language, scenario) -> why.
NOT_AVAILABLE = {
    ("node", "threadsafe_set_from_thread"):
        "JavaScript has no threads that share futures: the main thread owns every future "
        "object, and worker_threads are separate isolates with no way to adopt one",
    ("node", "task_cancelled"):
        "a Node task is an async function (a Promise), which cannot be cancelled; the "
        "package has no coroutine tasks of its own",
    ("python", "value_core_null_pointer"):
        "Python has no null pointer value of its own: None is void, and a pointer reads as "
        "its address (an int)",
    ("c", "process_task_error"):
        "a C task of the process pool is a C function run by xfworker, whose return value "
        "becomes the result: it cannot fail with an error type and message of its own",
}

MARK = {"pass": "pass", "fail": "FAIL", "na": "n/a"}


def runner_command(lang, build):
    """The command that runs one scenario in lang, and its environment."""
    env = dict(os.environ)
    runners = os.path.join(HERE, "runners")
    if lang == "c":
        return [os.path.join(build, "tests", "matrix", "xf_matrix_runner")], env
    if lang == "python":
        env["PYTHONPATH"] = os.path.join(build, "bindings", "python")
        return ["/usr/bin/python3", os.path.join(runners, "runner.py")], env
    if lang == "lua":
        out = os.path.join(build, "bindings", "lua")
        env["LUA_PATH"] = "%s/?.lua;;" % out
        env["LUA_CPATH"] = "%s/?.so;;" % out
        return ["lua5.4", os.path.join(runners, "runner.lua")], env
    if lang == "node":
        env["NODE_PATH"] = os.path.join(build, "bindings", "node")
        return ["node", os.path.join(runners, "runner.js")], env
    raise ValueError(lang)


def present(lang):
    """Whether the language is part of this checkout (its binding folder)."""
    return lang == "c" or os.path.isdir(os.path.join(ROOT, "bindings", lang))


def run_one(lang, build, path):
    cmd, env = runner_command(lang, build)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd + [path], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return {"status": "error", "error": "timed out after 30 s"}, 30.0
    except OSError as e:
        return {"status": "error", "error": "cannot run the runner: %s" % e}, 0.0
    elapsed = time.monotonic() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        result = {"status": "error",
                  "error": "exit %d, no result; stderr: %s" % (p.returncode, p.stderr.strip()[-800:])}
    if p.returncode != 0 and result.get("status") != "error":
        result = {"status": "error", "error": "exit %d; stderr: %s" % (p.returncode, p.stderr.strip()[-800:])}
    return result, elapsed


def judge(name, scenario, results):
    """Each language's cell: (mark, detail)."""
    steps = scenario["steps"]
    cells = {}
    agreeing = collections.Counter()
    for lang, r in results.items():
        if r["status"] == "na":
            listed = NOT_AVAILABLE.get((lang, name))
            if listed:
                cells[lang] = ("na", listed)
            else:
                cells[lang] = ("fail", "n/a not listed as a known gap: %s" % r.get("reason"))
            continue
        if r["status"] != "ran":
            cells[lang] = ("fail", r.get("error", "runner error"))
            continue
        obs = r["obs"]
        if len(obs) != len(steps):
            cells[lang] = ("fail", "%d observations for %d steps" % (len(obs), len(steps)))
            continue
        wrong = ["step %d (%s): expected %s, observed %s" % (
            i, s["op"], json.dumps(s["expect"]), json.dumps(o))
            for i, (s, o) in enumerate(zip(steps, obs)) if "expect" in s and s["expect"] != o]
        if wrong:
            cells[lang] = ("fail", "; ".join(wrong))
        else:
            cells[lang] = ("pass", "")
            agreeing[json.dumps(obs, sort_keys=True)] += 1
    # Languages that meet the expectations must also agree on every step.
    if len(agreeing) > 1:
        reference = agreeing.most_common(1)[0][0]
        for lang, r in results.items():
            if cells[lang][0] == "pass" and json.dumps(r["obs"], sort_keys=True) != reference:
                ref = json.loads(reference)
                diff = ["step %d (%s): %s vs %s" % (i, steps[i]["op"], json.dumps(o), json.dumps(ref[i]))
                        for i, o in enumerate(r["obs"]) if o != ref[i]]
                cells[lang] = ("fail", "disagrees with the other languages: " + "; ".join(diff))
    return cells


def write_html(path, names, langs, table, scenarios, host):
    rows = []
    for name in names:
        tds = []
        for lang in langs:
            mark, detail = table[name][lang]
            tds.append('<td class="%s" title="%s">%s</td>' % (mark, html.escape(detail), MARK[mark]))
        rows.append('<tr><th title="%s">%s</th>%s</tr>' % (
            html.escape(scenarios[name]["description"]), html.escape(name), "".join(tds)))
    if host is not None:
        rows.append('<tr><th>%s</th><td class="%s" colspan="%d">%s: %s</td></tr>' % (
            "host_three_runtimes", host[0], len(langs), MARK[host[0]], html.escape(host[1])))
    details = []
    for name in names:
        for lang in langs:
            mark, detail = table[name][lang]
            if mark != "pass" and detail:
                details.append("<li><b>%s / %s</b> (%s): %s</li>" % (
                    html.escape(name), lang, MARK[mark], html.escape(detail)))
    if host is not None and host[0] != "pass":
        details.append("<li><b>host_three_runtimes</b>: %s</li>" % html.escape(host[1]))
    doc = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>xfutures scenario matrix</title>
<style>
body {{ font-family: sans-serif; }} table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 2px 8px; }} th {{ text-align: left; font-weight: normal; }}
td.pass {{ background: #c8f0c8; }} td.fail {{ background: #f4b4b4; font-weight: bold; }}
td.na {{ background: #e8e8e8; color: #666; }}
</style></head><body>
<h1>xfutures scenario matrix</h1>
<p>{summary}</p>
<table><tr><th>scenario</th>{heads}</tr>
{rows}
</table>
<h2>Not passing</h2><ul>{details}</ul>
</body></html>
""".format(summary=html.escape(summary_line(names, langs, table, host)),
           heads="".join("<th>%s</th>" % lang for lang in langs),
           rows="\n".join(rows), details="\n".join(details) or "<li>none</li>")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc)


def write_junit(path, names, langs, table, times, host):
    suites = ET.Element("testsuites", name="xfutures-matrix")
    for lang in langs:
        cases = [(n, table[n][lang]) for n in names]
        suite = ET.SubElement(suites, "testsuite", name="matrix.%s" % lang,
                              tests=str(len(cases)),
                              failures=str(sum(1 for _, c in cases if c[0] == "fail")),
                              skipped=str(sum(1 for _, c in cases if c[0] == "na")))
        for name, (mark, detail) in cases:
            case = ET.SubElement(suite, "testcase", classname="matrix.%s" % lang, name=name,
                                 time="%.3f" % times.get((lang, name), 0.0))
            if mark == "fail":
                ET.SubElement(case, "failure", message=detail[:200]).text = detail
            elif mark == "na":
                ET.SubElement(case, "skipped", message=detail)
    if host is not None:
        suite = ET.SubElement(suites, "testsuite", name="matrix.host", tests="1",
                              failures="1" if host[0] == "fail" else "0",
                              skipped="1" if host[0] == "na" else "0")
        case = ET.SubElement(suite, "testcase", classname="matrix.host", name="three_runtimes")
        if host[0] == "fail":
            ET.SubElement(case, "failure", message=host[1][:200]).text = host[1]
        elif host[0] == "na":
            ET.SubElement(case, "skipped", message=host[1])
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def summary_line(names, langs, table, host):
    counts = collections.Counter(table[n][lang][0] for n in names for lang in langs)
    if host is not None:
        counts[host[0]] += 1
    return "%d scenarios x %d languages: %d pass, %d fail, %d n/a" % (
        len(names), len(langs), counts["pass"], counts["fail"], counts["na"])


def run_host(build):
    exe = os.path.join(build, "tests", "matrix", "xf_matrix_host")
    if not os.path.exists(os.path.join(HERE, "host", "host.c")):
        return ("na", "not written yet: the Python and Lua packages have no public way to "
                      "adopt a future handle made in C")
    if not os.path.exists(exe):
        return ("fail", "the three-runtime host was not built (%s)" % exe)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(build, "bindings", "python")
    lua = os.path.join(build, "bindings", "lua")
    env["LUA_PATH"] = "%s/?.lua;;" % lua
    env["LUA_CPATH"] = "%s/?.so;;" % lua
    try:
        p = subprocess.run([exe], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return ("fail", "timed out after 30 s")
    text = (p.stdout + p.stderr).strip()
    return ("pass", text) if p.returncode == 0 else ("fail", "exit %d: %s" % (p.returncode, text[-800:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "default"))
    ap.add_argument("--lang", help="comma-separated languages (default: all present)")
    ap.add_argument("-k", dest="match", help="only scenarios whose name contains this")
    ap.add_argument("-j", dest="jobs", type=int, default=2)
    ap.add_argument("--report-dir", help="where report.html and junit.xml go "
                    "(default: <build>/matrix)")
    ap.add_argument("--host-only", action="store_true",
                    help="run only the one-process host (host_three_runtimes)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)

    langs = args.lang.split(",") if args.lang else [lang for lang in LANGS if present(lang)]
    sdir = os.path.join(HERE, "scenarios")
    names = sorted(f[:-5] for f in os.listdir(sdir) if f.endswith(".json"))
    if args.match:
        names = [n for n in names if args.match in n]
    if args.host_only:
        names = []
    scenarios = {}
    for n in names:
        with open(os.path.join(sdir, n + ".json"), encoding="utf-8") as fh:
            scenarios[n] = json.load(fh)

    t0 = time.monotonic()
    results, times = collections.defaultdict(dict), {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        jobs = {pool.submit(run_one, lang, build, os.path.join(sdir, n + ".json")): (lang, n)
                for n in names for lang in langs}
        full = not args.lang and not args.match
        host_job = pool.submit(run_host, build) if full or args.host_only else None
        for job in concurrent.futures.as_completed(jobs):
            lang, n = jobs[job]
            results[n][lang], times[(lang, n)] = job.result()
        host = host_job.result() if host_job else None

    table = {n: judge(n, scenarios[n], results[n]) for n in names}
    width = max(len(n) for n in names + ["host_three_runtimes"])
    print("%-*s  %s" % (width, "scenario", "  ".join("%-6s" % lang for lang in langs)))
    for n in names:
        print("%-*s  %s" % (width, n, "  ".join("%-6s" % MARK[table[n][lang][0]] for lang in langs)))
    if host is not None:
        print("%-*s  %s (one process: C + Python + Lua)" % (width, "host_three_runtimes", MARK[host[0]]))
    failures = [(n, lang, table[n][lang][1]) for n in names for lang in langs
                if table[n][lang][0] == "fail"]
    for n, lang, detail in failures:
        print("FAIL %s [%s]: %s" % (n, lang, detail))
    if host is not None and host[0] != "pass":
        print("%s host_three_runtimes: %s" % (MARK[host[0]], host[1]))
    na = [(n, lang, table[n][lang][1]) for n in names for lang in langs if table[n][lang][0] == "na"]
    if na:
        print("n/a (the language's public API lacks the feature):")
        for n, lang, why in na:
            print("  %s [%s]: %s" % (n, lang, why))

    out = os.path.abspath(args.report_dir) if args.report_dir else os.path.join(build, "matrix")
    os.makedirs(out, exist_ok=True)
    write_html(os.path.join(out, "report.html"), names, langs, table, scenarios, host)
    write_junit(os.path.join(out, "junit.xml"), names, langs, table, times, host)
    print("matrix: %s in %.1f s; report %s, JUnit %s" % (
        summary_line(names, langs, table, host), time.monotonic() - t0,
        os.path.join(out, "report.html"), os.path.join(out, "junit.xml")))
    bad = failures or (host is not None and host[0] == "fail")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
