"""Successive halving over the grid: a Hydra sweeper (``hydra/sweeper=halving``).

Every configuration of the sweep (the basic sweeper's lists: ``conv=vgg,resnet``,
``norm=glob(*)``, ...) trains to the first rung's steps; the best ``1/eta`` by validation CER
go on to ``eta`` times the steps, and so on up to ``max_steps``::

    menu-train -m hydra/sweeper=halving hydra.sweeper.min_steps=300 \\
        hydra.sweeper.max_steps=8100 conv=glob(*) reduce=sum,max,concat

A promoted run continues in its own folder from its own ``last.ckpt`` (``budget.rung_steps``
pauses a run; the learning-rate schedule spans ``max_steps`` from the start, so a run's
first 300 steps are the same whether it stops there or goes on), never from scratch.
Promotion reads each run's record: its best validation CER up to the rung's step (never
the test set). A run that failed or diverged has no value and drops out, its error in its
record. The sweep writes ``search.json`` (rungs, each configuration's value per rung,
promotions) after every rung. With ``seeds: 3`` the configurations that finish the last
rung train again with seeds 1 and 2 (``menu-table`` then has seed spreads and CIs for the
finalists). Killed and started again, the same command retrains nothing
it finished: a finished run of a rung is returned as it is, and the promotions are
recomputed from the records. Any Hydra launcher runs the rungs (basic, joblib, submitit).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from menu.record import read_result

log = logging.getLogger(__name__)

#: Keys the sweeper sets for every job; the command line must leave them to it.
OWNED = ("budget.max_steps", "budget.rung_steps")


def rungs(min_steps: int, max_steps: int, eta: int) -> list[int]:
    """The step budget of each rung: ``min_steps * eta**k`` below ``max_steps``, then
    ``max_steps``."""
    if eta < 2:
        raise ValueError(f"eta must be at least 2, got {eta}")
    if not 0 < min_steps <= max_steps:
        raise ValueError(f"need 0 < min_steps <= max_steps, got {min_steps} and {max_steps}")
    out = [int(min_steps)]
    while out[-1] * eta < max_steps:
        out.append(out[-1] * eta)
    return out if out[-1] == max_steps else [*out, int(max_steps)]


def promote(values: Mapping[int, float | None], eta: int) -> list[int]:
    """The configurations (indices) that go on: the best ``max(1, n // eta)`` of the ``n``
    with a value, lowest value first (ties: the earlier configuration)."""
    ranked = sorted((v, i) for i, v in values.items() if v is not None and not math.isnan(v))
    return [i for _, i in ranked[: max(1, len(values) // eta)]] if ranked else []


def value_at(record: Mapping[str, Any] | None, steps: int) -> float | None:
    """A run record's best validation CER at or before ``steps`` (None: failed or none)."""
    if not record or record.get("status") != "ok":
        return None
    cers = [cer for step, cer in record.get("val_history") or [] if step <= steps]
    return min(cers) if cers else None


def _run_dir(job: JobReturn) -> Path | None:
    try:
        return Path(job.hydra_cfg.hydra.runtime.output_dir)  # type: ignore[union-attr]
    except AttributeError:
        return None


class HalvingSweeper(Sweeper):
    """Successive halving (see the module docstring)."""

    def __init__(
        self,
        min_steps: int,
        max_steps: int,
        eta: int = 3,
        seeds: int = 1,
        params: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.budgets = rungs(int(min_steps), int(max_steps), int(eta))
        self.eta = int(eta)
        if int(seeds) < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        self.seeds = int(seeds)
        self.params = dict(params or {})
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def configurations(self, arguments: Sequence[str]) -> list[list[str]]:
        """Every combination of the sweep's lists, as override lists (the basic sweeper's)."""
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        loader = self.hydra_context.config_loader if self.hydra_context else None
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(
            [*(f"{k}={v}" for k, v in self.params.items()), *arguments]
        )
        owned = [o.get_key_element() for o in parsed if o.get_key_element() in OWNED]
        if owned:
            raise ValueError(
                f"{owned[0]} is set by the halving sweeper: use hydra.sweeper.min_steps, "
                "hydra.sweeper.max_steps and hydra.sweeper.eta"
            )
        return BasicSweeper.split_arguments(parsed, None)[0]

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        assert self.config is not None and self.launcher is not None
        configs = self.configurations(arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        state: dict[str, Any] = {
            "rungs": self.budgets,
            "eta": self.eta,
            "configurations": [" ".join(c) for c in configs],
            "values": [],  # per rung: {configuration index: best val CER up to the rung}
            "promoted": [],  # per rung: the indices that go on
            "run_dirs": {},  # configuration index: its run folder
        }

        def save() -> None:
            (sweep_dir / "search.json").write_text(json.dumps(state, indent=1), encoding="utf-8")

        alive, returns, job = list(range(len(configs))), [], 0
        for k, steps in enumerate(self.budgets):
            batch = [
                [*configs[i], f"budget.max_steps={self.budgets[-1]}", f"budget.rung_steps={steps}"]
                for i in alive
            ]
            self.validate_batch_is_legal(batch)
            log.info("rung %d: %d configuration(s) to %d steps", k, len(batch), steps)
            results = self.launcher.launch(batch, initial_job_idx=job)
            job += len(batch)
            returns.append(results)
            values = {i: self.value(r, steps) for i, r in zip(alive, results, strict=True)}
            for i, r in zip(alive, results, strict=True):
                if (run_dir := _run_dir(r)) is not None:
                    state["run_dirs"][str(i)] = str(run_dir)
            state["values"].append({str(i): v for i, v in values.items()})
            if k + 1 < len(self.budgets):
                alive = promote(values, self.eta)
                state["promoted"].append(alive)
            save()
            if not alive:
                log.error("no run of rung %d has a validation CER: the search stops", k)
                return returns
        finalists = [i for i, v in values.items() if v is not None]
        if self.seeds > 1 and finalists:  # the survivors again with other seeds: spread, CIs
            batch = [
                [*(o for o in configs[i] if not o.startswith("seed=")), f"seed={seed}",
                 f"budget.max_steps={self.budgets[-1]}"]
                for i in finalists
                for seed in range(1, self.seeds)
            ]  # fmt: skip
            self.validate_batch_is_legal(batch)
            log.info("finalists: %d run(s) with seeds 1..%d", len(batch), self.seeds - 1)
            returns.append(self.launcher.launch(batch, initial_job_idx=job))
            state["seed_runs"] = [" ".join(b) for b in batch]
            save()
        return returns

    def value(self, job: JobReturn, steps: int) -> float | None:
        """What a job of a rung is ranked by: the best validation CER of its run up to the
        rung (from its record); a job without a record (a fake launcher in tests) is ranked
        by its return value."""
        run_dir = _run_dir(job)
        record = read_result(run_dir) if run_dir is not None else None
        if record is not None:
            return value_at(record, steps)
        if job.status != JobStatus.COMPLETED:
            return None
        return None if job.return_value is None else float(job.return_value)
