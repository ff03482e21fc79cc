"""devproxy's own benchmark: devproxy variants against the direct path, in one command.

    python benchmarks/run.py [--rounds 3] [--duration 5] [--only NAME,...] [--json PATH]

Starts a fast origin (nginx serving files, or an aiohttp fallback when nginx is not
installed; an aiohttp process for uploads and a WebSocket echo), then, in interleaved
rounds, measures every variant in VARIANTS (direct, devproxy as shipped, inspector off,
a CORS-mode route). Prints medians over rounds as a markdown table, with ratios to
direct taken within each round, and writes every round and the medians as JSON.

Everything runs on 127.0.0.1 with free ports, every loop is bounded, and only the
processes started here are stopped, by PID (terminate, then kill). With taskset and at
least two cores, the proxy gets core 1 and everything else (origins, wrk, curl, the
WebSocket client) core 0. Peers (nginx, Caddy, Node's http-proxy) are measured by
../shared/bench, see README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness import HERE, PIN, Origins, Target, Variant, pin_load_core
from measure import IDLE_SOCKETS, measure

BROWSER_ORIGIN = "http://localhost:5173"  # the Origin the CORS variant's requests send

# Add a variant here and it is measured in every round and gets a column of its own.
VARIANTS: tuple[Variant, ...] = (
    Variant("direct", proxied=False),
    Variant("devproxy"),  # as shipped: inspector on, one log line per request
    Variant("devproxy-no-inspector", config=("inspector: false",)),
    Variant("devproxy-h10", config=("inspector:", "  history: 10")),
    # "every correctness feature switched on": CORS mode on every route, and every
    # request is a cross-origin one.
    Variant("devproxy-cors",
            config=("cors:", f"  origins: [{BROWSER_ORIGIN}]", "  credentials: true"),
            headers=(("Origin", BROWSER_ORIGIN),)),
)


# -- report ------------------------------------------------------------------------------

RATIO = ("get_1k_rps", "get_64k_rps", "download_mib_s", "upload_mib_s", "ws_echo_per_s")
ADDED = ("p50_ms", "p99_ms")

# (row label, key, format, how the ratio/difference to direct is shown)
ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("GET 1 KiB, 50 conns, req/s", "get_1k_rps", "{:,.0f}", "ratio"),
    ("GET 64 KiB, 50 conns, req/s", "get_64k_rps", "{:,.0f}", "ratio"),
    ("1 conn p50 latency (proxy: added)", "p50_ms", "{:.3f} ms", "added"),
    ("1 conn p99 latency (proxy: added)", "p99_ms", "{:.3f} ms", "added"),
    ("100 MiB download", "download_mib_s", "{:,.0f} MiB/s", "ratio"),
    ("100 MiB upload", "upload_mib_s", "{:,.0f} MiB/s", "ratio"),
    ("RSS when ready", "start_rss_mib", "{:.1f} MiB", ""),
    ("RSS before the 100 MiB transfers", "transfer_start_rss_mib", "{:.1f} MiB", ""),
    ("peak RSS during the transfers", "transfer_peak_rss_mib", "{:.1f} MiB", ""),
    ("WebSocket echo round trips/s", "ws_echo_per_s", "{:,.0f}", "ratio"),
    (f"{IDLE_SOCKETS:,} idle WebSockets", "ws_idle_mib", "+{:.1f} MiB", ""),
    ("`devproxy up` to first answer", "ready_s", "{:.2f} s", ""),
    ("config save to new target answering", "reload_s", "{:.3f} s", ""),
)


def summarise(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Medians over rounds; ratios and differences to direct are taken per round first."""
    out: dict[str, dict[str, float]] = {}
    for name, keys in rounds[0].items():
        out[name] = {key: statistics.median(r[name][key] for r in rounds) for key in keys}
        if name == "direct" or "direct" not in rounds[0]:
            continue
        for key in RATIO:
            out[name][key + "_ratio"] = statistics.median(
                r[name][key] / r["direct"][key] for r in rounds)
        for key in ADDED:
            out[name][key + "_added"] = statistics.median(
                r[name][key] - r["direct"][key] for r in rounds)
    return out


def table(summary: dict[str, dict[str, float]]) -> str:
    names = list(summary)
    lines = ["| figure | " + " | ".join(names) + " |", "|---" + "|--:" * len(names) + "|"]
    for label, key, fmt, compare in ROWS:
        cells = []
        for name in names:
            figures = summary[name]
            if key not in figures:
                cells.append("-")
            elif compare == "added" and key + "_added" in figures:
                cells.append("+" + fmt.format(figures[key + "_added"]))
            elif compare == "ratio" and key + "_ratio" in figures:
                cells.append(f"{fmt.format(figures[key])} ({figures[key + '_ratio']:.2f}x)")
            else:
                cells.append(fmt.format(figures[key]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "3")),
                        help="interleaved rounds (env ROUNDS, default 3)")
    parser.add_argument("--duration", type=float,
                        default=float(os.environ.get("DURATION", "5")),
                        help="seconds per wrk run (env DURATION, default 5)")
    parser.add_argument("--only", help="comma-separated variants; direct always runs. "
                        "Known: " + ", ".join(v.name for v in VARIANTS))
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json",
                        help="where to write the results (default: %(default)s)")
    parser.add_argument("--origin", choices=("nginx", "aiohttp"), default="nginx",
                        help="file origin (nginx falls back to aiohttp when not installed)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin processes to cores with taskset (env PIN=0)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds must be at least 1 and --duration positive")
    known = {v.name for v in VARIANTS}
    wanted = set(args.only.split(",")) if args.only else known
    if wanted - known:
        parser.error(f"unknown variant(s): {', '.join(sorted(wanted - known))}")
    args.variants = [v for v in VARIANTS if v.name in wanted or not v.proxied]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"benchmarks: {tool} is missing (Debian: apt-get install {tool})")
    PIN.enabled = (not args.no_pin and os.environ.get("PIN", "1") != "0"
                   and shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) > 1)
    pin_load_core()
    rounds: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="devproxy-bench-") as tmp:
        folder = Path(tmp)
        origins = Origins(folder, use_nginx=args.origin == "nginx")
        print(f"origin: {origins.kind}; pinning: {'on' if PIN.enabled else 'off'}",
              file=sys.stderr)
        with origins.running():
            for number in range(args.rounds):
                result: dict[str, dict[str, float]] = {}
                # Interleaved, every variant in every round, and the order rotated per
                # round: whichever runs first after a quiet spell tends to do better.
                shift = number % len(args.variants)
                for variant in [*args.variants[shift:], *args.variants[:shift]]:
                    print(f"round {number + 1}/{args.rounds}: {variant.name}",
                          file=sys.stderr)
                    target = Target(variant, origins, folder)
                    with target.running():
                        result[variant.name] = measure(target, folder, args.duration,
                                                       origins.use_nginx)
                rounds.append(result)
    summary = summarise(rounds)
    print(table(summary))
    note = ("" if origins.use_nginx else
            f"\nNOTE: the file origin is {origins.kind}, slower than nginx: the direct "
            "figures are lower and the ratios kinder to devproxy than with nginx.")
    print(f"\nMedians of {args.rounds} interleaved round(s), {args.duration:g} s per wrk run; "
          f"ratios to direct in brackets. Origin: {origins.kind}; pinning: "
          f"{'proxy on core 1, the rest on core 0' if PIN.enabled else 'off'}.{note}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "origin": origins.kind,
        "pinned": PIN.enabled, "rounds_count": args.rounds, "duration_s": args.duration,
        "variants": [v.name for v in args.variants], "rounds": rounds, "median": summary,
    }, indent=2) + "\n")
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
