"""Rerun every command whose output README.md quotes, and write the outputs into it (and the
studies' tables into their experiments/*/README.md).

Each quoted output sits between two markers in README.md::

    <!-- output: NAME -->
    ```
    $ command
    output
    ```
    <!-- /output -->

This script runs the commands of each block in a scratch folder (``--work``, default
``readme-work/``; the README's relative paths then mean the same as for a newcomer in a
fresh clone) and replaces the block, adding the wall time and the machine. Nothing in a
block is typed by hand. Blocks depend on each other in the order below (the sweep's runs
are reproduced and evaluated), so ``--only`` reuses what an earlier full run left in the
work folder. Each block's output is kept there (``NAME.out``) and the READMEs are written
at the end: the tree stays as committed while runs record its commit and replays compare
it (run from a clean tree, the replays show no environment difference).

    python scripts/readme_outputs.py                 # all blocks, about 20 minutes on 2 cores
                                                     # (axes: after experiments/axes/run.sh,
                                                     # search: after its menu-table)
    python scripts/readme_outputs.py --only convert  # one block
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = "multirun/quick"
RUN = f"{QUICK}/conv=vgg,reduce=sum"


def sh(cmd: str, cwd: Path) -> tuple[str, float]:
    """Run a shell command; its stdout and the wall seconds (stops on failure)."""
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0,):
        sys.exit(f"failed ({proc.returncode}): {cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout, seconds


def wall(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def machine() -> str:
    import torch

    from menu.record import machine as facts

    m = facts()
    return f"{m['cores']} cores ({m['cpu']}, {m['cpu_capability']}), torch {torch.__version__}"


def excerpt(data: dict, keys: list[str]) -> str:
    return json.dumps({k: data[k] for k in keys if k in data}, indent=1, ensure_ascii=False)


# --------------------------------------------------------------------------- the blocks


def quick(work: Path) -> str:
    shutil.rmtree(work / QUICK, ignore_errors=True)
    out, seconds = sh("menu-train sweep=quick", work)
    table = out[out.index("result.json under") - 2 :].rstrip()
    runs = "\n".join(line for line in out.splitlines() if re.match(r"\[\d+/\d+\] ", line))
    return (
        f"$ menu-train sweep=quick\n...\n{runs}\n{table}\n"
        f"# {wall(seconds)} wall for the whole command (data generation, 4 runs 2 at a "
        f"time, tests, table) on {machine()}"
    )


def result(work: Path) -> str:
    record = json.loads((work / RUN / "result.json").read_text())
    record["val_history"] = [*record["val_history"][:2], ["..."], *record["val_history"][-1:]]
    keys = [
        "status", "val_cer", "test_cer", "test_wer", "test_lines", "test_failed", "params",
        "steps", "batches", "epochs", "stopped_by", "val_history", "threads", "workers",
        "batch_size", "choices", "best_checkpoint",
    ]  # fmt: skip
    text = excerpt(record, keys).replace('[\n   "..."\n  ]', '"..."')
    text = text.replace(f"{work}/", "")  # paths as a newcomer's checkout has them
    return f"$ python -m json.tool '{RUN}/result.json'   # excerpt\n{text}"


def reproduce(work: Path) -> str:
    lines, first, total = [], "", 0.0
    for run in sorted((work / QUICK).glob("*/result.json")):
        rel = run.parent.relative_to(work)
        out, seconds = sh(f"menu-reproduce '{rel}'", work)
        total += seconds
        report = json.loads(out)
        first = first or f"$ menu-reproduce '{rel}'\n{out.rstrip()}"
        lines.append(f'{rel}: "identical": {json.dumps(report["identical"])}')
    return (
        f'{first}\n$ for run in {QUICK}/*/; do menu-reproduce "$run" | grep identical; done\n'
        + "\n".join(lines)
        + f"\n# {wall(total)} wall for the four replays on {machine()}"
    )


def convert(work: Path) -> str:
    for path in ("my-lines", "data/mine", "demo-synth"):
        shutil.rmtree(work / path, ignore_errors=True)
    sh("menu-data synth demo-synth -n 300 --seed 7 --no-progress", work)
    sh("menu-data export 'demo-synth/train-*.tar' my-lines --no-progress", work)
    shutil.rmtree(work / "demo-synth")
    (work / "my-lines" / "broken.png").write_bytes(b"not a png")
    (work / "my-lines" / "broken.gt.txt").write_text("unreadable\n")
    (work / "my-lines" / "empty.gt.txt").write_text("\n")
    shutil.copy(next((work / "my-lines").rglob("*.png")), work / "my-lines" / "empty.png")
    shutil.copy(next((work / "my-lines").rglob("*.png")), work / "my-lines" / "unlabelled.png")
    cmd = "menu-data convert my-lines data/mine --split train=0.8,val=0.1,test=0.1"
    out, seconds = sh(cmd, work)
    return f"$ {cmd}\n{out.rstrip()}\n# {wall(seconds)} wall on {machine()}"


def evaluate(work: Path) -> str:
    cmd = f"menu-eval '{RUN}/checkpoints/best.ckpt' 'data/mine/test-*.tar'"
    out, _ = sh(cmd, work)
    result = json.loads(out)
    result["confusions"] = result["confusions"][:3]
    keys = ["n", "cer", "wer", "lines_per_s", "failed", "failed_lines", "skipped",
            "unknown_char_lines", "by_length", "confusions"]  # fmt: skip
    return f"$ {cmd}   # excerpt\n{excerpt(result, keys)}"


def axes(work: Path) -> str:
    """The axes study's comparison, as its run.sh left it in experiments/axes/table (run
    ``bash experiments/axes/run.sh`` first: about 80 minutes)."""
    report = (ROOT / "experiments" / "axes" / "table" / "report.txt").read_text()
    head = report[report.index("result.json under") - 3 :].split("\n== runs ==")[0].strip()
    configs = report[report.index("== configurations") :].split("\n== failed")[0].strip()
    return f"$ bash experiments/axes/run.sh   # excerpt of table/report.txt\n{head}\n\n{configs}"


def search(work: Path) -> str:
    """The whole-grid search as committed in experiments/search/table (``menu-table
    multirun/search --out experiments/search/table`` after the search or a sitting of it):
    the compute line, the best models at the last rung reached, and the rank agreement."""
    report = (ROOT / "experiments" / "search" / "table" / "report.txt").read_text()
    section = report[report.index("== search") :].split("\n== failed")[0]
    lines = [line.rstrip() for line in section.splitlines()]
    compute = next(line for line in lines if " configurations, " in line and "rungs" in line)
    ranks = lines[lines.index(next(ln for ln in lines if ln.startswith("rank agreement"))) :]
    ranks = ranks[: ranks.index("")] if "" in ranks else ranks
    cmd = "menu-table multirun/search --out experiments/search/table"
    return "\n".join([f"$ {cmd}   # excerpt of table/report.txt", *lines[1:15], "...", "",
                      compute, "", *ranks])  # fmt: skip


#: name -> (the README the block is in, the function that makes it); in run order.
BLOCKS: dict[str, tuple[Path, Callable[[Path], str]]] = {
    "quick": (ROOT / "README.md", quick),
    "result": (ROOT / "README.md", result),
    "reproduce": (ROOT / "README.md", reproduce),
    "convert": (ROOT / "README.md", convert),
    "eval": (ROOT / "README.md", evaluate),
    "axes": (ROOT / "experiments" / "axes" / "README.md", axes),
    "search": (ROOT / "experiments" / "search" / "README.md", search),
}


def splice(text: str, name: str, body: str) -> str:
    """Replace block ``name`` of ``text`` (an error if the README has no such block)."""
    pattern = re.compile(
        rf"(<!-- output: {re.escape(name)} -->\n)```\n.*?```\n(<!-- /output -->)", re.S
    )
    if not pattern.search(text):
        sys.exit(f"no block <!-- output: {name} --> in the README")
    return pattern.sub(lambda m: f"{m.group(1)}```\n{body}\n```\n{m.group(2)}", text, count=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", nargs="+", choices=list(BLOCKS), help="these blocks only")
    p.add_argument("--work", default=str(ROOT / "readme-work"), help="scratch folder")
    args = p.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    names = args.only or list(BLOCKS)
    for name in names:  # the READMEs stay untouched until the end: a run records the
        print(f"== {name}", flush=True)  # tree's commit, and a replay of it compares them
        body = BLOCKS[name][1](work)
        (work / f"{name}.out").write_text(body, "utf-8")  # kept if a later block fails
        print(body, flush=True)
    for name in names:
        readme = BLOCKS[name][0]
        body = (work / f"{name}.out").read_text(encoding="utf-8")
        readme.write_text(splice(readme.read_text(encoding="utf-8"), name, body), "utf-8")


if __name__ == "__main__":
    main()
