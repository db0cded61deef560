"""Profile `fal-platform run-batch` against a fresh emulator (issue 11, CPU).

    python -m benchmarks.profile_engine OUT_DIR [--items 2000] [--concurrency 64] [--py-spy]
        [--tree PATH ...] [--no-stream]

Runs the CLI in a child process (optionally under `py-spy record`, which needs py-spy, e.g.
`uv run --with py-spy`), prints its CPU ms per item (children's rusage minus a 1-item run's, so
interpreter start and imports are left out) and the emulator's requests per item. Each `--tree`
(a checkout, e.g. a `git worktree` of main) runs the same batch on the same emulator, one after
another, so a change is measured before and after in one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.emulated import latency_options
from benchmarks.items import write_prompt_file
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import isolated_env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(
    out: Path, emulator: EmulatorProcess, items: int, tree: Path, args: argparse.Namespace
) -> float:
    name = f"prof_{items}_{time.time_ns()}"
    prompt_file = write_prompt_file(out, name, items)
    cmd = [sys.executable, "-m", "fal_platform.cli", "run-batch", str(prompt_file)]
    cmd += ["--db", str(out / f"{name}.duckdb"), "--emulator-url", emulator.url]
    cmd += ["--no-progress", "--max-concurrency", str(args.concurrency)]
    cmd += ["--submit-rate", "10000", *(["--no-stream"] if args.no_stream else [])]
    if args.py_spy and items:
        cmd = [
            "py-spy",
            "record",
            "-r",
            "50",
            "-f",
            "raw",
            "-o",
            str(out / "engine.txt"),
            "--",
            *cmd,
        ]
    before = _children_cpu()
    env = isolated_env(PYTHONPATH=str(tree))
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-4000:])
    return _children_cpu() - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--py-spy", action="store_true")
    parser.add_argument("--tree", type=Path, action="append", default=[])
    parser.add_argument("--no-stream", action="store_true", help="run-batch polls status")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    trees = [tree.resolve() for tree in args.tree] or [Path(__file__).resolve().parent.parent]
    options = latency_options(queue_wait=0.3, inference_time=0.7)
    with EmulatorProcess(models=20, **options) as emulator:
        for tree in trees:
            print(json.dumps({"tree": str(tree), **_measure(args, emulator, tree)}), flush=True)


def _measure(args: argparse.Namespace, emulator: EmulatorProcess, tree: Path) -> dict[str, float]:
    baseline = _run(args.out, emulator, 1, tree, args)
    emulator.reset_stats()
    start = time.monotonic()
    cpu = _run(args.out, emulator, args.items, tree, args)
    wall = time.monotonic() - start
    requests = sum(int(n) for n in emulator.stats()["requests"].values())
    return {
        "items": args.items,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "startup_cpu_s": round(baseline, 2),
        "cpu_ms_per_item": round((cpu - baseline) * 1000 / args.items, 2),
        "requests_per_item": round(requests / args.items, 2),
    }


if __name__ == "__main__":
    main()
