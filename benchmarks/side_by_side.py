"""Two devproxy variants on the proxy core at once, loaded at once: what one costs per
request against the other, whatever else the machine is doing.

    python benchmarks/side_by_side.py [--a devproxy] [--b devproxy-no-inspector]
                                      [--path /1k] [--rounds 9] [--duration 5]
                                      [--a-source DIR] [--b-source DIR] [--browser]

Interleaved runs of one variant after the other scatter by tens of percent on a shared
machine (0.65 to 1.58 for the same pair, ten alternations). Here both processes share
core 1 and are loaded together by two wrk processes on core 0, so they see the same
noise at the same moment, and the ratio of their req/s is the inverse ratio of their
CPU time per request (while the proxy core, not the load core, is the limit). Each
round starts both sides afresh; the median over 9 rounds holds to about a percent.
``--b`` equal to ``--a`` is the control (1.00).

``--a-source DIR`` runs side a's devproxy from another checkout: a change measured
against the code it changes, the same variant on both sides, at the same moment.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from harness import BROWSER_FETCH, HERE, LOAD_CPU, PIN, Origins, Target, Variant, pin_load_core
from run import VARIANTS

CONNECTIONS = 25  # each; 50 in all, as in run.py's GETs


def rps(out: str) -> float:
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"wrk printed no Requests/sec:\n{out}")


def both(targets: Sequence[Target], path: str, duration: float) -> list[float]:
    """Load every target at once for ``duration`` seconds; their req/s, in order."""
    pin = ["taskset", "-c", str(LOAD_CPU)] if PIN.enabled else []
    loads = [subprocess.Popen([*pin, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration:g}s",
                               *target.header_args(), target.url(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for target in targets]
    results = []
    for load in loads:
        out, err = load.communicate(timeout=duration + 60)
        if load.returncode != 0:
            raise RuntimeError(f"wrk failed ({load.returncode}): {err.strip()}")
        if "Non-2xx or 3xx responses" in out:
            raise RuntimeError(f"wrk got error responses:\n{out}")
        results.append(rps(out))
    return results


def _round(args: argparse.Namespace, variants: dict[str, Variant], origins: Origins,
           folder: Path, number: int) -> tuple[float, float]:
    """One round, each side a fresh ``devproxy up``, started first in turn: a's and b's
    req/s. A process keeps its luck (its hash seed, where its memory lies) for life, and
    with processes kept across rounds a control read 1.002 in one run and 1.022 in the
    next, each run's rounds within a percent of each other."""
    sides = ("a", "b") if number % 2 == 0 else ("b", "a")
    targets = {}
    with ExitStack() as running:
        for side in sides:
            (folder / side).mkdir(parents=True)
            target = Target(variants[getattr(args, side)], origins, folder / side,
                            getattr(args, f"{side}_source"))
            running.enter_context(target.running())
            targets[side] = target
        both([targets["a"], targets["b"]], args.path, 2)  # warm-up: pools filled, code run
        a, b = both([targets["a"], targets["b"]], args.path, args.duration)
    return a, b


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = [v.name for v in VARIANTS if v.proxied]
    parser.add_argument("--a", default="devproxy", choices=names)
    parser.add_argument("--b", default="devproxy-no-inspector", choices=names)
    parser.add_argument("--path", default="/1k", choices=("/1k", "/64k"))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--browser", action="store_true",
                        help="every request carries the fields Chromium sends with a "
                             "fetch() (wrk alone sends Host only)")
    for side in ("a", "b"):
        parser.add_argument(f"--{side}-source", type=Path, default=HERE.parent, metavar="DIR",
                            help=f"the checkout {side}'s devproxy runs from "
                                 "(default: this one)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0:  # as run.py says it
        parser.error("--rounds must be at least 1 and --duration positive")
    for side in ("a", "b"):
        source = getattr(args, f"{side}_source").resolve()
        if not (source / "devproxy" / "__main__.py").is_file():
            parser.error(f"--{side}-source {source}: no devproxy/__main__.py there")
        setattr(args, f"{side}_source", source)
    PIN.enabled = shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) > 1
    pin_load_core()
    extra = BROWSER_FETCH if args.browser else ()
    variants = {v.name: dataclasses.replace(v, headers=v.headers + extra) for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="devproxy-sbs-") as temp, ExitStack() as stack:
        folder = Path(temp)
        origins = Origins(folder, use_nginx=True)
        stack.enter_context(origins.running())
        ratios = []
        for number in range(args.rounds):
            a, b = _round(args, variants, origins, folder / str(number), number)
            ratios.append(a / b)
            print(f"round {number + 1}/{args.rounds}: {args.a} {a:,.0f} req/s, "
                  f"{args.b} {b:,.0f} req/s, ratio {a / b:.3f}", file=sys.stderr)
    if args.a_source != args.b_source:
        print(f"a: {args.a_source}\nb: {args.b_source}")
    fields = ", a browser's fields" if args.browser else ""
    print(f"{args.a} / {args.b}, GET {args.path}{fields}, side by side: median "
          f"{statistics.median(ratios):.3f} over {args.rounds} rounds "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
