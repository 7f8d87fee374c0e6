#!/usr/bin/env python3
"""bench/run.py: runs csp.h's benchmarks beside their Go twins and peers.

THE PROTOCOL (bench/README.md says the same at more length)

Every benchmark program -- a C program bench/NAME.c (bin/NAME), its Go twin
bench/go/NAME.go (bin/go_NAME), a peer bench/peers/NAME.cpp (bin/peer_NAME)
-- is run as

    prog [--quick]        with the environment variable BENCH=pattern

and prints one line per row:

    <row-name> <value> <unit>

  * row-name: no spaces; shared between a C program, its Go twin and any
    peer doing the same work (`chan/sync`, `chan/prodcons/0`, `switch/raw`).
  * value: a number (C "%g" / Go "%g" style).
  * unit: `ns/op`, or e.g. `KB/goroutine`, `%cpu`. Every unit is
    lower-is-better, so go/csp > 1 always means csp does better.
  * Every other line is ignored; comments start with '#'.
  * BENCH: unset or empty selects every row; otherwise a comma-separated
    list of alternatives, a row being selected if one matches. An
    alternative holding '*', '?' or '[' is a glob over the whole row name
    (fnmatch(3) with no flags: '*' also matches '/'; '[!...]' negates);
    any other is a substring. Programs skip the rows not selected (this
    runner also drops any row that does not match).
  * Fixed iteration counts (no auto-scaling: C and Go do identical work),
    smaller under --quick. bench/bench.h and bench/go/benchlib.go implement
    all this, plus a common iteration scheme (bench_run / benchRun: warm-up
    with n/10, then n timed; bench_parallel / benchParallel: RunParallel).
  * Exit status 0. Anything else (or a signal, or the timeout: 300 s, quick
    120 s, --timeout) marks the program `failed` for that run; the rows it
    printed still count. A program that timed out is not run again.

THE RUN

Programs are grouped by area: NAME, go_NAME, and each peer_* whose rows
share names with theirs. Each area runs R rounds (R = 5, --quick 3,
--rounds N or env BENCH_ROUNDS), the programs of a round in rotating order,
so C and Go alternate and share the machine's noise. Each cell is the median
of a program's samples of a row. The table

    name | unit | csp | go | go/csp | peer | peer/csp

goes to stdout, bench/results.md (with the machine's facts, the command to
reproduce, and every sample) and bench/results.svg (bars of the ratios).
The exit status is 0 even when a program fails or is missing.
"""

import argparse
import datetime
import html
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "bin")
ROOT = os.path.dirname(HERE)

KIND_COLUMN = {"csp": "csp", "go": "go", "peer": "peer"}


# --------------------------------------------------------------- selection

def glob_match(p, s):
    """fnmatch(3) with no flags: '*' any run (also '/'), '?' one char,
    '[...]' a set with ranges and '!' negation, '\\' quotes a char.
    The same algorithm as globMatch in go/benchlib.go."""
    pi = si = 0
    star_p, star_s = -1, 0
    while si < len(s):
        if pi < len(p):
            c = p[pi]
            if c == "*":
                star_p, star_s = pi, si
                pi += 1
                continue
            if c == "?":
                pi += 1
                si += 1
                continue
            if c == "[":
                ok, nxt, valid = _match_class(p, pi, s[si])
                if valid:
                    if ok:
                        pi, si = nxt, si + 1
                        continue
                elif s[si] == "[":
                    pi, si = pi + 1, si + 1
                    continue
            elif c == "\\":
                if pi + 1 < len(p) and p[pi + 1] == s[si]:
                    pi, si = pi + 2, si + 1
                    continue
            elif c == s[si]:
                pi, si = pi + 1, si + 1
                continue
        if star_p < 0:
            return False
        star_s += 1
        pi, si = star_p + 1, star_s
    while pi < len(p) and p[pi] == "*":
        pi += 1
    return pi == len(p)


def _match_class(p, i, c):
    j = i + 1
    neg = False
    if j < len(p) and p[j] == "!":
        neg = True
        j += 1
    found = False
    first = True
    while j < len(p) and (first or p[j] != "]"):
        first = False
        lo = p[j]
        if lo == "\\" and j + 1 < len(p):
            j += 1
            lo = p[j]
        hi = lo
        if j + 2 < len(p) and p[j + 1] == "-" and p[j + 2] != "]":
            hi = p[j + 2]
            j += 2
        if lo <= c <= hi:
            found = True
        j += 1
    if j >= len(p):
        return False, 0, False
    return found != neg, j + 1, True


def parse_pattern(text):
    return [a.strip() for a in (text or "").split(",") if a.strip()]


def want(row, alternatives):
    if not alternatives:
        return True
    for a in alternatives:
        if any(ch in a for ch in "*?["):
            if glob_match(a, row):
                return True
        elif a in row:
            return True
    return False


# --------------------------------------------------------------- discovery

class Program:
    def __init__(self, name, path, kind, area):
        self.name = name          # bin/ file name: NAME, go_NAME, peer_NAME
        self.path = path
        self.kind = kind          # csp | go | peer
        self.area = area          # None for a peer until its rows place it
        self.samples = {}         # row -> [values]
        self.units = {}           # row -> unit
        self.order = []           # rows in first-seen order
        self.runs = 0
        self.failures = []        # (run index, description, stderr tail)
        self.comments = []
        self.seconds = []


def discover():
    """Programs in BIN, and sources in bench/ that have no program there."""
    progs, not_built = [], []
    names = set()
    if os.path.isdir(BIN):
        for f in sorted(os.listdir(BIN)):
            path = os.path.join(BIN, f)
            if f.startswith(".") or not os.path.isfile(path) or not os.access(path, os.X_OK):
                continue
            if f.startswith("go_"):
                progs.append(Program(f, path, "go", f[3:]))
            elif f.startswith("peer_"):
                progs.append(Program(f, path, "peer", None))
            else:
                progs.append(Program(f, path, "csp", f))
            names.add(f)
    sources = []
    for f in sorted(os.listdir(HERE)):
        if f.endswith(".c"):
            sources.append((f[:-2], "csp", f[:-2], f))
    gdir = os.path.join(HERE, "go")
    if os.path.isdir(gdir):
        for f in sorted(os.listdir(gdir)):
            if f.endswith(".go") and f != "benchlib.go" and not f.endswith("_test.go"):
                sources.append(("go_" + f[:-3], "go", f[:-3], "go/" + f))
    pdir = os.path.join(HERE, "peers")
    if os.path.isdir(pdir):
        for f in sorted(os.listdir(pdir)):
            base, ext = os.path.splitext(f)
            if ext in (".c", ".cpp", ".cc"):
                sources.append(("peer_" + base, "peer", None, "peers/" + f))
    for name, kind, area, src in sources:
        if name not in names:
            not_built.append((name, kind, area, src))
    return progs, not_built


# ------------------------------------------------------------------ running

LINE = re.compile(r"^(\S+)\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)\s+(\S+)\s*$")


def run_once(prog, args, env, timeout, alternatives):
    cmd = [prog.path] + (["--quick"] if args.quick else [])
    t0 = time.monotonic()
    failure = None
    try:
        # Its own process group, so that a timeout kills whatever it started.
        proc = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        proc, out, err = None, b"", str(e).encode()
        failure = "could not start: %s" % e
    if proc is not None:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            out, err = proc.communicate()
            failure = "timed out after %ds" % timeout
        except KeyboardInterrupt:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            raise
        rc = proc.returncode
        if failure is None and rc < 0:
            failure = "killed by signal %d (%s)" % (-rc, signal.Signals(-rc).name
                                                    if -rc in signal.valid_signals() else "?")
        elif failure is None and rc != 0:
            failure = "exit status %d" % rc
    dt = time.monotonic() - t0
    prog.seconds.append(dt)
    run_index = prog.runs
    prog.runs += 1
    comments = []
    for raw in out.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line)
            continue
        m = LINE.match(line)
        if not m:
            continue
        row, value, unit = m.group(1), float(m.group(2)), m.group(3)
        if not want(row, alternatives):
            continue
        if row not in prog.samples:
            prog.samples[row] = []
            prog.order.append(row)
        prog.samples[row].append(value)
        prog.units[row] = unit
    prog.comments = comments
    if failure:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
        prog.failures.append((run_index, failure, tail))
    return dt, failure


# The order of areas; others follow alphabetically.
AREA_ORDER = ["switch", "goroutines", "channels", "select", "sync", "timers", "context", "poller"]


def area_key(area):
    return (AREA_ORDER.index(area), "") if area in AREA_ORDER else (len(AREA_ORDER), area)


def assign_peers(peers, area_rows):
    for p in peers:
        if p.area is not None:
            continue
        rows = set(p.samples)
        for area, rs in area_rows.items():
            if rows & rs:
                p.area = area
                break


def run_all(progs, args, alternatives, log):
    env = dict(os.environ)
    env["BENCH"] = ",".join(alternatives)
    # Same parallelism on both sides when the user pins one of them.
    if "CSP_MAXPROCS" in env and "GOMAXPROCS" not in env:
        env["GOMAXPROCS"] = env["CSP_MAXPROCS"]
    elif "GOMAXPROCS" in env and "CSP_MAXPROCS" not in env:
        env["CSP_MAXPROCS"] = env["GOMAXPROCS"]
    R = args.rounds
    timeout = args.timeout
    peers = [p for p in progs if p.kind == "peer"]
    areas = sorted({p.area for p in progs if p.kind != "peer"}, key=area_key)

    # A peer's area is known from its rows: one probe run each (a sample).
    for p in peers:
        dt, fail = run_once(p, args, env, timeout, alternatives)
        log("bench: probe %s %.1fs%s" % (p.name, dt, " FAILED (%s)" % fail if fail else ""))

    area_rows = {}
    # Programs that printed no selected row, successfully: not run again.
    done_empty = {p.name for p in peers if not p.samples and not p.failures}

    def round_of(area, members, r):
        # A program that timed out is not run again (it would only cost
        # another timeout); its remaining runs count as not made.
        live = [p for p in members if p.runs < R and p.name not in done_empty
                and not any(w.startswith("timed out") for (_, w, _) in p.failures)]
        if not live:
            return False
        k = r % len(live)
        live = live[k:] + live[:k]
        parts = []
        quiet = True
        for p in live:
            dt, fail = run_once(p, args, env, timeout, alternatives)
            parts.append("%s %.1fs%s" % (p.kind if p.kind != "peer" else p.name, dt,
                                         " FAILED" if fail else ""))
            if not p.samples and not fail:
                done_empty.add(p.name)
            else:
                quiet = False
            rs = area_rows.setdefault(area, set())
            if p.kind != "peer":
                rs.update(p.samples)
        if not quiet:
            log("bench: %-12s round %d/%d: %s" % (area, r + 1, R, ", ".join(parts)))
        return True

    for area in areas:
        members = [p for p in progs if p.kind != "peer" and p.area == area]
        for r in range(R):
            assign_peers(peers, {area: area_rows.get(area, set())})
            ms = members + [p for p in peers if p.area == area]
            if not round_of(area, ms, r):
                break
            assign_peers(peers, {area: area_rows.get(area, set())})
    # Peers that share rows with nobody form their own areas.
    for p in peers:
        if p.area is None:
            p.area = p.name
            for r in range(1, R):
                if not round_of(p.area, [p], r):
                    break
    return areas + sorted({p.area for p in peers if p.area not in areas}, key=area_key)


# ------------------------------------------------------------------- table

def fmt_value(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if math.isnan(v) or math.isinf(v):
        return str(v)
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    if a == 0:
        return "0"
    return "%.3g" % v


def ratio(a, b):
    """a / b for numbers; None when either is missing."""
    if not isinstance(a, float) or not isinstance(b, float):
        return None
    if math.isnan(a) or math.isnan(b):
        return None
    if b == 0:
        return math.inf if a > 0 else None
    return a / b


def fmt_ratio(r):
    if r is None:
        return "-"
    if math.isinf(r):
        return "inf"
    return "%.2f" % r if r < 100 else "%.0f" % r


def build_table(progs, not_built, area_order, have_go):
    """Rows: list of dicts name, unit, csp, go, peer (float | str | None),
    peer_name, area, flags."""
    by_area = {}
    for p in progs:
        by_area.setdefault(p.area, []).append(p)
    nb_by_area = {}
    for name, kind, area, src in not_built:
        nb_by_area.setdefault(area, []).append((name, kind, src))
    table = []
    for area in area_order:
        members = by_area.get(area, [])
        kinds = {}
        for p in members:
            kinds.setdefault(p.kind, []).append(p)
        rows = []
        for kind in ("go", "csp", "peer"):  # the twins list every row
            for p in kinds.get(kind, []):
                for r in p.order:
                    if r not in rows:
                        rows.append(r)
        missing = {k for (n, k, s) in nb_by_area.get(area, [])}
        for r in rows:
            entry = {"name": r, "area": area, "unit": None, "peer_name": None, "flags": []}
            for kind in ("csp", "go", "peer"):
                cell = None
                for p in kinds.get(kind, []):
                    if r in p.samples:
                        cell = statistics.median(p.samples[r])
                        entry["unit"] = entry["unit"] or p.units[r]
                        if p.units[r] != entry["unit"]:
                            entry["flags"].append("unit mismatch: %s says %s" % (p.name, p.units[r]))
                        if kind == "peer":
                            entry["peer_name"] = p.name[5:]
                        if p.failures:
                            entry.setdefault("marked", set()).add(kind)
                        break
                    if p.failures:
                        cell = "failed"
                if cell is None and kind in missing:
                    cell = "-" if (kind == "go" and not have_go) else "not built"
                entry[kind] = cell
            table.append(entry)
        # A program that failed without printing a single row still shows.
        for p in members:
            if p.failures and not p.samples:
                entry = {"name": "(%s)" % p.name, "area": area, "unit": "-",
                         "peer_name": None, "flags": [],
                         "csp": None, "go": None, "peer": None}
                entry[p.kind] = "failed"
                table.append(entry)
    return table


def fmt_cell(e, kind):
    """A value; '!' after it when its program failed in some run."""
    return fmt_value(e[kind]) + ("!" if kind in e.get("marked", ()) else "")


def table_lines(table, sep=" | ", markdown=False):
    head = ["name", "unit", "csp", "go", "go/csp", "peer", "peer/csp"]
    body = []
    for e in table:
        body.append([e["name"], e["unit"] or "-", fmt_cell(e, "csp"), fmt_cell(e, "go"),
                     fmt_ratio(ratio(e["go"], e["csp"])), fmt_cell(e, "peer"),
                     fmt_ratio(ratio(e["peer"], e["csp"]))])
    if markdown:
        out = ["| " + " | ".join(head) + " |",
               "|" + "|".join([":---", ":---"] + ["---:"] * 5) + "|"]
        for b in body:
            out.append("| " + " | ".join(md_escape(x) for x in b) + " |")
        return out
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]

    def line(cells):
        return sep.join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                        for i, c in enumerate(cells)).rstrip()
    out = [line(head), "-+-".join("-" * w for w in widths)]
    out += [line(b) for b in body]
    return out


def md_escape(s):
    return s.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


# ------------------------------------------------------------ machine facts

def sh(cmd):
    try:
        cp = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=20, cwd=ROOT)
        return cp.stdout.decode("utf-8", "replace").strip() if cp.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() in ("model name", "Model", "cpu model", "Hardware"):
                    return v.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def machine_facts():
    gcc = sh(["gcc", "--version"])
    go = shutil.which(os.environ.get("GO") or "go")
    gov = sh([go, "version"]) if go else None
    commit = sh(["git", "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "status", "--porcelain", "--", "csp.h", "bench"])
    return [
        ("CPU", "%s, nproc %s" % (cpu_model(), os.cpu_count())),
        ("kernel", "%s %s" % (platform.system(), platform.release())),
        ("gcc", gcc.splitlines()[0] if gcc else "not found"),
        ("go", gov or "not found (apt-get install golang-go)"),
        ("python", platform.python_version()),
        ("csp.h", ("commit %s" % commit if commit else "no commit yet")
         + (" + uncommitted changes" if dirty else "")),
    ]


# ---------------------------------------------------------------------- svg

def write_svg(path, table, title, subtitle):
    rows = [e for e in table if not e["name"].startswith("(")]
    ratios = []
    for e in rows:
        for k in ("go", "peer"):
            r = ratio(e[k], e["csp"])
            if r is not None and r > 0 and not math.isinf(r):
                ratios.append(r)
    # Symmetric log scale around 1.0, at least 1/2 .. 2.
    span = max([abs(math.log2(r)) for r in ratios] + [1.0])
    span = math.ceil(span + 0.25)
    lo, hi = -span, span
    label_w, plot_w, margin = 250, 560, 20
    row_h = 30
    top = 70
    legend_h = 40
    width = label_w + plot_w + 90
    height = top + row_h * max(len(rows), 1) + 40 + legend_h
    x0 = label_w

    def x_of(r):
        v = min(max(math.log2(r), lo), hi)
        return x0 + (v - lo) / (hi - lo) * plot_w

    one = x_of(1.0)
    out = []
    a = out.append
    a('<?xml version="1.0" encoding="UTF-8"?>')
    a('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
      'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">'
      % (width, height, width, height))
    a('<rect width="100%" height="100%" fill="#ffffff" stroke="none"/>')
    a('<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>' % (margin, esc(title)))
    a('<text x="%d" y="44" fill="#555555">%s</text>' % (margin, esc(subtitle)))
    plot_top, plot_bot = top - 8, top + row_h * max(len(rows), 1)
    # Grid and ticks: powers of two.
    step = 1 if span <= 4 else 2
    for v in range(lo, hi + 1, step):
        x = x0 + (v - lo) / (hi - lo) * plot_w
        a('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"/>'
          % (x, plot_top, x, plot_bot, "#333333" if v == 0 else "#dddddd",
             "1.5" if v == 0 else "1"))
        lab = ("%g" % (2.0 ** v)) if v >= 0 else "1/%g" % (2.0 ** -v)
        a('<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%s</text>'
          % (x, plot_bot + 16, lab))
    a('<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">'
      'ratio (log scale): right of 1 = csp faster</text>' % (x0 + plot_w / 2, plot_bot + 32))
    for i, e in enumerate(rows):
        y = top + i * row_h
        if i % 2 == 1:
            a('<rect x="%d" y="%d" width="%d" height="%d" fill="#f6f6f6" stroke="none"/>'
              % (margin, y - 2, width - 2 * margin, row_h))
        a('<text x="%d" y="%d" text-anchor="end">%s</text>'
          % (x0 - 10, y + 15, esc(e["name"])))
        drawn = False
        for k, dy, h, colour_up, colour_down in (("go", 4, 13, "#2e8b57", "#c0392b"),
                                                 ("peer", 19, 7, "#4a6fb5", "#8e44ad")):
            r = ratio(e[k], e["csp"])
            if r is None or r <= 0:
                continue
            drawn = True
            xr = x_of(r) if not math.isinf(r) else x0 + plot_w
            xa, xb = min(one, xr), max(one, xr)
            colour = colour_up if r >= 1 else colour_down
            a('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="none">'
              '<title>%s %s/csp = %s</title></rect>'
              % (xa, y + dy, max(xb - xa, 1.0), h, colour, esc(e["name"]), k, fmt_ratio(r)))
            tx = xb + 4 if r >= 1 else xa - 4
            anchor = "start" if r >= 1 else "end"
            a('<text x="%.1f" y="%d" text-anchor="%s" font-size="%d" fill="#222222">%s%s</text>'
              % (tx, y + dy + h - 2, anchor, 11 if k == "go" else 9,
                 fmt_ratio(r), "" if k == "go" else " " + (e["peer_name"] or "peer")))
        if not drawn:
            if isinstance(e["csp"], str):
                why = "csp " + e["csp"]
            elif e["csp"] is None:
                why = "no csp value yet"
            elif isinstance(e["go"], str) and e["go"] != "-":
                why = "go " + e["go"]
            elif isinstance(e["peer"], str) and e["peer"] != "-":
                why = "peer " + e["peer"]
            else:
                why = "no Go twin or peer"
            a('<text x="%.1f" y="%d" fill="#999999" font-style="italic">%s</text>'
              % (one + 6, y + 15, esc(why)))
    ly = plot_bot + 50
    a('<rect x="%d" y="%d" width="14" height="10" fill="#2e8b57" stroke="none"/>' % (x0, ly))
    a('<text x="%d" y="%d">go/csp (red: below 1, Go faster)</text>' % (x0 + 20, ly + 10))
    a('<rect x="%d" y="%d" width="14" height="6" fill="#4a6fb5" stroke="none"/>' % (x0 + 280, ly + 2))
    a('<text x="%d" y="%d">peer/csp (purple: below 1)</text>' % (x0 + 300, ly + 10))
    a("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def esc(s):
    return html.escape(str(s), quote=True)


# --------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short counts, 3 rounds")
    ap.add_argument("--rounds", "-r", type=int, default=None,
                    help="runs of each program (default 5, quick 3; env BENCH_ROUNDS)")
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds per run (default 300, quick 120)")
    ap.add_argument("--bench", default=None, help="row pattern (default: env BENCH)")
    ap.add_argument("--cmd", default=None, help="the command to show for reproducing")
    ap.add_argument("--out", default=HERE, help="directory for results.md and results.svg")
    ap.add_argument("--bin", default=None, help="directory of programs (default bench/bin)")
    args = ap.parse_args()
    if args.bin:
        global BIN
        BIN = os.path.abspath(args.bin)
    if args.rounds is None:
        env_r = os.environ.get("BENCH_ROUNDS", "")
        args.rounds = int(env_r) if env_r.isdigit() and int(env_r) > 0 else (3 if args.quick else 5)
    if args.timeout is None:
        args.timeout = 120 if args.quick else 300
    pattern = args.bench if args.bench is not None else os.environ.get("BENCH", "")
    alternatives = parse_pattern(pattern)

    def log(msg):
        sys.stdout.flush()
        print(msg, file=sys.stderr, flush=True)

    have_go = shutil.which(os.environ.get("GO") or "go") is not None
    progs, not_built = discover()
    if not have_go:
        log("bench: Go not found, so the Go column is empty. Install it with: "
            "apt-get install golang-go")
    for name, kind, area, src in not_built:
        if kind == "go" and not have_go:
            continue
        log("bench: %s (from %s) is not built: see the build output above" % (name, src))
    if not progs:
        log("bench: nothing to run in %s (run `make` in bench/ first)" % BIN)

    started = datetime.datetime.now().astimezone()
    load0 = loadavg()
    t0 = time.monotonic()
    area_order = run_all(progs, args, alternatives, log) if progs else []
    elapsed = time.monotonic() - t0
    load1 = loadavg()
    table = build_table(progs, not_built, area_order, have_go)

    mode = "quick" if args.quick else "full"
    lines = table_lines(table)
    print()
    print("\n".join(lines))
    print()
    print("median of %d runs per program, %s mode, %.0f s; go/csp > 1: csp faster"
          % (args.rounds, mode, elapsed))
    facts = dict(machine_facts())
    print("%s; %s; %s; load %s -> %s" % (facts["CPU"], facts["gcc"], facts["go"], load0, load1))
    if any(e.get("marked") for e in table) or any(e["name"].startswith("(") for e in table):
        print("!: that program failed in some run (the value is the median of what it printed)")
        for p in progs:
            if p.failures:
                print("  %s failed in %d of %d runs: %s" % (p.name, len(p.failures), p.runs,
                                                          p.failures[-1][1]))

    # results.md
    base_cmd = args.cmd or ("python3 bench/run.py" + (" --quick" if args.quick else ""))
    if args.rounds != (3 if args.quick else 5):
        base_cmd = "BENCH_ROUNDS=%d %s" % (args.rounds, base_cmd)
    if pattern:
        base_cmd = "BENCH=%s %s" % (shlex.quote(pattern), base_cmd)
    md = []
    m = md.append
    m("# csp.h benchmarks")
    m("")
    m("Generated by `%s` on %s (%s mode, %d runs of each program in rotating rounds, %.0f s)."
      % (base_cmd, started.strftime("%Y-%m-%d %H:%M %Z"), mode, args.rounds, elapsed))
    m("Each cell is the median of a program's runs. Every unit is lower-is-better, so a"
      " ratio above 1 means csp does better than Go (go/csp) or the peer (peer/csp)."
      " The machine is shared and noisy: compare ratios from one run, not absolute"
      " times across runs. `!` after a value: its program failed in some run (see Notes);"
      " the value is the median of the rows it printed.")
    m("")
    m("\n".join(table_lines(table, markdown=True)))
    m("")
    m("![go/csp ratios](results.svg)")
    m("")
    m("## Machine")
    m("")
    for k, v in machine_facts():
        m("- %s: %s" % (k, v))
    m("- date: %s" % started.strftime("%Y-%m-%d %H:%M:%S %Z"))
    m("- load average: %s at the start, %s at the end" % (load0, load1))
    for var in ("CSP_MAXPROCS", "GOMAXPROCS", "GOGC"):
        if os.environ.get(var):
            m("- %s=%s" % (var, os.environ[var]))
    m("")
    m("## Reproduce")
    m("")
    m("    apt-get install golang-go libboost-context-dev")
    m("    %s" % base_cmd)
    m("")
    notes = []
    for e in table:
        for fl in dict.fromkeys(e["flags"]):
            notes.append("`%s`: %s" % (e["name"], fl))
    for p in progs:
        if p.failures:
            whats = sorted({w for (_, w, _) in p.failures})
            tail = p.failures[-1][2]
            notes.append("`%s` failed in %d of %d runs (%s)%s" % (
                p.name, len(p.failures), p.runs, "; ".join(whats),
                (": stderr: " + " / ".join(tail)) if tail else ""))
    for name, kind, area, src in not_built:
        if kind == "go" and not have_go:
            notes.append("`%s`: skipped, Go is not installed (apt-get install golang-go)" % name)
        else:
            notes.append("`%s`: not built from `%s` (see `make -C bench`)" % (name, src))
    peer_names = sorted({e["peer_name"] for e in table if e["peer_name"]})
    for pn in peer_names:
        srcs = [f for f in sorted(os.listdir(os.path.join(HERE, "peers")))
                if os.path.splitext(f)[0] == pn] if os.path.isdir(os.path.join(HERE, "peers")) else []
        notes.append("peer column `%s`: bench/peers/%s" % (pn, srcs[0] if srcs else pn))
    if notes:
        m("## Notes")
        m("")
        for n in notes:
            m("- " + n)
        m("")
    m("## Samples")
    m("")
    m("Every run's value, in run order, and the spread (max - min) / median.")
    m("")
    m("| name | program | samples | spread |")
    m("|:---|:---|:---|---:|")
    for e in table:
        for p in progs:
            if p.area == e["area"] and e["name"] in p.samples:
                s = p.samples[e["name"]]
                med = statistics.median(s)
                spread = "%.0f%%" % (100 * (max(s) - min(s)) / med) if med else "-"
                m("| %s | %s | %s | %s |" % (md_escape(e["name"]), md_escape(p.name),
                                             " ".join(fmt_value(v) for v in s), spread))
    comments = []
    for p in progs:
        if not p.samples:
            continue
        for c in p.comments:
            comments.append("%s: %s" % (p.name, c.lstrip("# ").strip()))
    if comments:
        m("")
        m("## Program comments (last run)")
        m("")
        for c in comments:
            m("    " + c)
    os.makedirs(args.out, exist_ok=True)
    md_path = os.path.join(args.out, "results.md")
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")
    svg_path = os.path.join(args.out, "results.svg")
    gov = dict(machine_facts()).get("go", "")
    gov = re.search(r"go(\d+\.\d+(\.\d+)?)", gov)
    write_svg(svg_path, table, "csp.h vs Go%s: go/csp per benchmark (median of %d, %s mode)"
              % (" " + gov.group(1) if gov else "", args.rounds, mode),
              "%s, nproc %s, %s" % (cpu_model(), os.cpu_count(), started.strftime("%Y-%m-%d %H:%M")))
    print("wrote %s and %s" % (os.path.relpath(md_path), os.path.relpath(svg_path)), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
