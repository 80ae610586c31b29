#!/usr/bin/python3
"""How much of each binding SWIG generates, and how much is C written by hand.

Usage: scripts/binding-stats.py [--list] [--check] [LANG ...]   (LANG: python lua node)

--list names the functions of each count; --check exits with status 1 when a
language named misses the goal (for a test).

For each language it reads bindings/<lang>/xfutures.i, follows its
%include of the shared files in bindings/common/ (and of the core headers
that those %include, such as xf/common.h), and reads the C and C++ files of
bindings/<lang>/. It prints:

- SWIG wraps: the functions SWIG generates a wrapper for from a plain
  declaration, split into those declared in bindings/common/ (shared by
  every language) and those the language's own interface file declares;
- written by hand: the functions a program of the language calls that are
  C written by hand (functions defined in an %inline block, %native
  entries, and for the record the helper functions defined in %{ %} blocks
  and in bindings/<lang>/*.c);
- lines of hand-written C: code lines (not blank, not only a comment) in
  %{ %} blocks of every kind (%inline, %init, %header, ...), in %typemap,
  %exception and %extend bodies, and in bindings/<lang>/*.c, *.h, *.cc.
  They are split into "language-specific" and "the rest". The shared files'
  own hand-written C (bindings/common/) is counted once, apart.

Language-specific sections are marked in the sources (in a .i file inside or
outside a %{ %} block, or in a .c file) by a comment line of its own:

    /* xf:lang-specific: why (e.g. the GIL and signal checks) */
    ...
    /* xf:end */

Every hand-written C line between the two is counted as language-specific.
Sections do not nest. The goal is at most 600 lines of hand-written C per
language outside such sections (GOAL below).

The parser is a line scanner, not a C parser: it knows the SWIG directives
the bindings use and brace depth, which is enough for code formatted by the
project's .clang-format. It needs only the standard library.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LANGS = ("python", "lua", "node")
GOAL = 600

BEGIN = re.compile(r"^\s*(/\*|//)\s*xf:lang-specific\b")
END = re.compile(r"^\s*(/\*|//)\s*xf:end\b")
C_BLOCK = re.compile(r"^\s*(%(inline|init|header|wrapper|runtime|begin)\s*)?%\{")
INCLUDE = re.compile(r'^\s*%include\s+"([^"]+)"')
NATIVE = re.compile(r"^\s*%native\s*\(\s*(\w+)\s*\)\s*[^;]*?\b(\w+)\s*\(")
IGNORE = re.compile(r"^\s*%ignore\s+(\w+)\s*;")
BODY_DIRECTIVE = re.compile(r"^\s*%(typemap|exception|extend)\b")
PROTO = re.compile(r"^\s*(?:XF_API\s+)?(?:const\s+)?[A-Za-z_][\w\s\*]*?\b(\w+)\s*\(")
DEF_START = re.compile(r"^(?:static\s+|inline\s+|extern\s+)*[A-Za-z_][\w:<>,\s\*&]*?\b(\w+)\s*\(")
NAMESPACE = re.compile(r'^\s*(namespace\s+\w*\s*\{|\}\s*$|extern\s+"C"\s*\{)')
NOT_FUNCS = {"if", "for", "while", "switch", "return", "sizeof", "defined", "typedef"}


def code_lines(text, state):
    """Yield (is_code, line) for the lines of text, dropping comments.
    state["in_comment"] carries a /* comment across calls."""
    for line in text.split("\n"):
        out = []
        i = 0
        in_str = None
        while i < len(line):
            c = line[i]
            if state["in_comment"]:
                j = line.find("*/", i)
                if j < 0:
                    i = len(line)
                else:
                    state["in_comment"] = False
                    i = j + 2
                continue
            if in_str:
                out.append(c)
                if c == "\\":
                    out.append(line[i + 1 : i + 2])
                    i += 2
                    continue
                if c == in_str:
                    in_str = None
                i += 1
                continue
            if line.startswith("/*", i):
                state["in_comment"] = True
                i += 2
                continue
            if line.startswith("//", i):
                break
            if c in "\"'":
                in_str = c
            out.append(c)
            i += 1
        yield bool("".join(out).strip()), "".join(out)


class Stats:
    def __init__(self):
        self.swig_common = []   # core calls declared in bindings/common
        self.swig_own = []      # declared in the language's own .i
        self.entry = []         # hand-written functions the language calls
        self.helpers = []       # other hand-written C functions
        self.lines = {"specific": 0, "rest": 0, "common": 0}
        self.seen = set()


class Scanner:
    """Scans one file; shared (bindings/common) files count their lines apart."""

    def __init__(self, stats, path, shared, ignored):
        self.st = stats
        self.path = path
        self.shared = shared
        self.ignored = ignored
        self.specific = False

    def count(self, is_code, raw):
        if not is_code:
            return
        if self.shared:
            self.st.lines["common"] += 1
        elif self.specific:
            self.st.lines["specific"] += 1
        else:
            self.st.lines["rest"] += 1

    def marker(self, line):
        if BEGIN.match(line):
            self.specific = True
            return True
        if END.match(line):
            self.specific = False
            return True
        return False

    def c_region(self, lines, i, inline, stop):
        """Count a C region starting at lines[i] until stop(line) is true (the
        line is consumed; None: to the end). Records the functions defined at
        brace depth 0. Returns the index after the region."""
        state = {"in_comment": False}
        depth = 0
        pending = None  # a name whose definition may start on a later line
        pending_static = False
        while i < len(lines):
            line = lines[i]
            i += 1
            if stop and stop(line):
                return i
            if self.marker(line):
                continue
            for is_code, code in code_lines(line, state):
                self.count(is_code, code)
                if not is_code:
                    continue
                if depth == 0:
                    m = DEF_START.match(code)
                    if m and m.group(1) not in NOT_FUNCS and not code.lstrip().startswith(
                        ("typedef", "#", "return")
                    ):
                        pending = m.group(1)
                        pending_static = code.lstrip().startswith("static")
                if depth == 0 and NAMESPACE.match(code):
                    continue  # a namespace's contents count as top level
                if pending and depth == 0:
                    if "{" in code:
                        static = code.lstrip().startswith("static") or pending_static
                        self.function(pending, inline and not static)
                        pending = None
                    elif code.rstrip().endswith(";"):
                        pending = None
                depth += code.count("{") - code.count("}")
                if depth < 0:
                    depth = 0
        return i

    def function(self, name, inline):
        if self.shared:
            return
        key = (name, inline)
        if key in self.st.seen:
            return
        self.st.seen.add(key)
        (self.st.entry if inline else self.st.helpers).append(name)

    def body(self, lines, i):
        """A %typemap/%exception/%extend body: a "string", %{ %} or { } on the
        directive's line or the next. Returns the index after it."""
        # A directive may wrap: its head ends at the line that opens the body.
        while (
            i + 1 < len(lines)
            and "{" not in lines[i]
            and not re.search(r'"\s*;?\s*$', lines[i])
        ):
            i += 1
        first = lines[i]
        rest = first[first.find(")") + 1 :] if "(" in first.split("{")[0] else first
        if re.search(r'"\s*;?\s*$', first) and '"' in rest:
            self.count(True, first)
            return i + 1
        if "%{" in first:
            if "%}" in first[first.find("%{") + 2 :]:
                self.count(True, first)
                return i + 1
            return self.c_region(lines, i + 1, False, lambda l: l.strip().startswith("%}"))
        if "{" in first:
            depth = 0
            state = {"in_comment": False}
            j = i
            while j < len(lines):
                line = lines[j]
                j += 1
                for is_code, code in code_lines(line, state):
                    if j - 1 != i:
                        if self.marker(line):
                            continue
                        self.count(is_code, code)
                    depth += code.count("{") - code.count("}")
                if depth <= 0 and j - 1 >= i and "{" in "".join(lines[i:j]):
                    break
            return j
        return i + 1


def header_functions(path, ignored):
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^XF_API\s+[^(]*?\b(\w+)\s*\(", line)
            if m and m.group(1) not in ignored:
                names.append(m.group(1))
    return names


def scan_interface(st, path, shared, ignored, visited):
    if path in visited or not os.path.exists(path):
        return
    visited.add(path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    sc = Scanner(st, path, shared, ignored)
    state = {"in_comment": False}
    in_define = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if sc.marker(line):
            i += 1
            continue
        if state["in_comment"]:
            list(code_lines(line, state))
            i += 1
            continue
        stripped = line.strip()
        m = C_BLOCK.match(line)
        if m:
            inline = m.group(2) == "inline"
            after = line[line.find("%{") + 2 :]
            if "%}" in after:
                sc.count(bool(after.split("%}")[0].strip()), after)
                i += 1
                continue
            i = sc.c_region(lines, i + 1, inline, lambda l: l.strip().startswith("%}"))
            continue
        if BODY_DIRECTIVE.match(line):
            i = sc.body(lines, i)
            continue
        m = INCLUDE.match(line)
        if m:
            inc = m.group(1)
            if inc.endswith(".i"):
                sub = os.path.normpath(os.path.join(os.path.dirname(path), inc))
                scan_interface(st, sub, shared or "/bindings/common/" in sub, ignored, visited)
            elif inc.startswith("xf/"):
                hdr = os.path.join(ROOT, "core", "include", inc)
                if os.path.exists(hdr):
                    target = st.swig_common if shared else st.swig_own
                    target.extend(n for n in header_functions(hdr, ignored) if n not in target)
            i += 1
            continue
        m = IGNORE.match(line)
        if m:
            ignored.add(m.group(1))
            i += 1
            continue
        m = NATIVE.match(line)
        if m:
            if not shared:
                st.entry.append(m.group(1))
            i += 1
            continue
        if stripped.startswith("%define"):
            in_define = True
        elif stripped.startswith("%enddef"):
            in_define = False
        codes = [c for ok, c in code_lines(line, state) if ok]
        if codes and not in_define and not stripped.startswith("%"):
            code = codes[0]
            pm = PROTO.match(code)
            if pm and pm.group(1) not in NOT_FUNCS and pm.group(1) not in ignored:
                # A declaration may wrap onto the next lines.
                j = i
                text = code
                while ";" not in text and "{" not in text and j + 1 < len(lines):
                    j += 1
                    text += lines[j]
                if ";" in text and "{" not in text.split(";")[0]:
                    name = pm.group(1)
                    target = st.swig_common if shared else st.swig_own
                    if name not in target:
                        target.append(name)
                i = j + 1
                continue
        i += 1


def scan_c_file(st, path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    Scanner(st, path, False, set()).c_region(lines, 0, False, None)


def stats_for(lang):
    st = Stats()
    d = os.path.join(ROOT, "bindings", lang)
    scan_interface(st, os.path.join(d, "xfutures.i"), False, set(), set())
    for name in sorted(os.listdir(d)):
        if name.endswith((".c", ".h", ".cc", ".cpp")):
            scan_c_file(st, os.path.join(d, name))
    # A function defined in an %inline block is called by the program, not
    # wrapped from a declaration.
    st.swig_own = [n for n in st.swig_own if n not in st.entry]
    return st


def main(argv):
    show = "--list" in argv
    check = "--check" in argv
    langs = [a for a in argv if not a.startswith("-")] or list(LANGS)
    for lang in langs:
        if lang not in LANGS:
            sys.exit("unknown language %r (one of %s)" % (lang, ", ".join(LANGS)))
    print("%-7s %12s %12s %10s %10s %10s %10s %8s" % (
        "lang", "swig:common", "swig:own", "hand:entry", "hand:help",
        "C:specific", "C:rest", "goal"))
    rows = []
    for lang in langs:
        st = stats_for(lang)
        rows.append((lang, st))
        ok = "met" if st.lines["rest"] <= GOAL else "missed"
        print("%-7s %12d %12d %10d %10d %10d %10d %8s" % (
            lang, len(st.swig_common), len(st.swig_own), len(st.entry), len(st.helpers),
            st.lines["specific"], st.lines["rest"], ok))
    common = rows[0][1].lines["common"] if rows else 0
    print("hand-written C in bindings/common (shared, counted once): %d lines" % common)
    print("goal: at most %d lines of hand-written C per language outside its "
          "/* xf:lang-specific */ sections (C:rest)" % GOAL)
    if show:
        for lang, st in rows:
            print("\n[%s]" % lang)
            print("  swig:common  " + " ".join(st.swig_common))
            print("  swig:own     " + " ".join(st.swig_own))
            print("  hand:entry   " + " ".join(st.entry))
            print("  hand:help    " + " ".join(st.helpers))
    if check and any(st.lines["rest"] > GOAL for _, st in rows):
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
