"""Successive halving and Hyperband over the grid: a Hydra sweeper (``hydra/sweeper=halving``).

Every configuration of the sweep (the basic sweeper's lists: ``conv=vgg,resnet``,
``norm=glob(*)``, ...; or ``samples`` of them drawn, with continuous knobs such as
``optim.optimizer.lr='tag(log,interval(3e-4,3e-3))'``: :mod:`menu.space`) trains to the first rung's
budget; the best ``1/eta`` by validation CER go on to ``eta`` times the budget, and so on up
to ``max_budget``::

    menu-train -m hydra/sweeper=halving hydra.sweeper.min_budget=300 \\
        hydra.sweeper.max_budget=8100 conv=glob(*) reduce=sum,max,concat

The budget ``unit`` is ``steps``, or ``cpu_seconds``: calibrated CPU time, measured once as
steps on the sweep's base configuration (``budget.json`` in the sweep folder, as
``budget.calibrate`` does), so every configuration gets equal, repeatable steps.
``hyperband: true`` hedges the first budget: brackets of successive halving that start at
every rung, the later ones with fewer configurations (Li et al., 2018), each bracket drawing
its own configurations.

A promoted run continues in its own folder from its own ``last.ckpt`` (``budget.rung_steps``
pauses a run; the learning-rate schedule spans the final budget from the start, so a run's
first 300 steps are the same whether it stops there or goes on), never from scratch; a
configuration drawn again by a later bracket is the same run, and so is one that builds the
same model as another (:func:`menu.models.build.canonical`: ``scale=interp`` after a
``conv`` that leaves nothing to upsample is ``scale=none``): it is trained once, under the
configuration written canonically, and ``search.json`` lists it in ``twins``. Promotion
reads each run's record: its best validation CER up to the rung's step (never the test set:
a paused run is not even tested, its record gets a test CER when it finishes its last rung).
A run that failed or diverged has no value and drops out, its error in its record; a job
that failed without training (refused: its folder holds another configuration's run) has no
value either, whatever its folder's record says, and its error is logged. The sweep writes
``search.json`` (rungs, each configuration's value per rung, promotions) after every rung; a
rung where every job failed stops the sweep with the first error and leaves ``search.json``
as it was. With ``seeds: 3`` the configurations that finish the last rung train again with
seeds 1 and 2 (``menu-table`` then has seed spreads and CIs for the finalists);
``finalists: k`` gives the extra seeds only to the best ``k`` of them by their last
validation CER.
Killed and started again, the same command retrains nothing it finished: draws are seeded, a
finished run of a rung is returned as it is, and the promotions are recomputed from the
records. Any Hydra launcher runs the rungs (basic, joblib, submitit).
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from menu.record import read_result
from menu.space import Space

log = logging.getLogger(__name__)

#: Keys the sweeper sets for every job; the command line must leave them to it.
OWNED = ("budget.max_steps", "budget.rung_steps")
#: Budget units: training steps, or CPU-seconds calibrated into steps once per sweep.
UNITS = ("steps", "cpu_seconds")


def rungs(min_budget: int, max_budget: int, eta: int) -> list[int]:
    """The budget of each rung: ``min_budget * eta**k`` below ``max_budget``, then
    ``max_budget``."""
    if eta < 2:
        raise ValueError(f"eta must be at least 2, got {eta}")
    if not 0 < min_budget <= max_budget:
        raise ValueError(f"need 0 < min_budget <= max_budget, got {min_budget} and {max_budget}")
    out = [int(min_budget)]
    while out[-1] * eta < max_budget:
        out.append(out[-1] * eta)
    return out if out[-1] == max_budget else [*out, int(max_budget)]


def brackets(n_rungs: int, eta: int, n: int, hyperband: bool) -> list[tuple[int, int]]:
    """(first rung, configurations) of each bracket. Successive halving is one bracket of
    ``n`` from rung 0; Hyperband has one per rung, bracket ``s`` (``s_max`` down to 0)
    starting at rung ``s_max - s`` with ``ceil(n (s_max + 1) / ((s + 1) eta**(s_max - s)))``:
    ``n = eta**s_max`` gives Li et al.'s brackets."""
    if not hyperband:
        return [(0, n)]
    s_max = n_rungs - 1
    return [
        (s_max - s, max(1, math.ceil(n * (s_max + 1) / ((s + 1) * eta ** (s_max - s)))))
        for s in range(s_max, -1, -1)
    ]


def promote(values: Mapping[int, float | None], eta: int) -> list[int]:
    """The configurations (indices) that go on: the best ``max(1, n // eta)`` of the ``n``
    with a value, lowest value first (ties: the earlier configuration)."""
    ranked = sorted((v, i) for i, v in values.items() if v is not None and not math.isnan(v))
    return [i for _, i in ranked[: max(1, len(values) // eta)]] if ranked else []


#: How a run ends short of a rung without having finished: it has no value at that rung.
UNFINISHED = ("rung_steps", "interrupted")


def value_at(record: Mapping[str, Any] | None, steps: int) -> float | None:
    """A run record's best validation CER at or before ``steps`` (None: failed, none, or a
    record that was paused or interrupted before ``steps``: an earlier rung's record)."""
    if not record or record.get("status") != "ok":
        return None
    if record.get("stopped_by") in UNFINISHED and (record.get("steps") or 0) < steps:
        return None
    cers = [cer for step, cer in record.get("val_history") or [] if step <= steps]
    return min(cers) if cers else None


def twins(keys: Sequence[tuple[str, bool]]) -> dict[str, int]:
    """Configurations that train the same model as another (equal fingerprints): each one's
    index (a string, as in ``search.json``) -> the index that trains it, the configuration
    written canonically (``scale=none`` rather than a scale layer of factor 1), else the
    first."""
    groups: dict[str, list[int]] = {}
    for i, (key, _) in enumerate(keys):
        groups.setdefault(key, []).append(i)
    out: dict[str, int] = {}
    for members in groups.values():
        first = next((i for i in members if keys[i][1]), members[0])
        out |= {str(i): first for i in members if i != first}
    return out


def _run_dir(job: JobReturn) -> Path | None:
    try:
        return Path(job.hydra_cfg.hydra.runtime.output_dir)  # type: ignore[union-attr]
    except AttributeError:
        return None


class HalvingSweeper(Sweeper):
    """Successive halving and Hyperband (see the module docstring)."""

    def __init__(
        self,
        min_budget: int,
        max_budget: int,
        eta: int = 3,
        unit: str = "steps",
        samples: int | None = None,
        seed: int = 0,
        hyperband: bool = False,
        seeds: int = 1,
        finalists: int | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        if unit not in UNITS:
            raise ValueError(f"hydra.sweeper.unit must be one of {UNITS}, got {unit!r}")
        self.budgets = rungs(int(min_budget), int(max_budget), int(eta))
        self.eta, self.unit, self.hyperband = int(eta), unit, bool(hyperband)
        if samples is not None and int(samples) < 1:
            raise ValueError(f"hydra.sweeper.samples must be at least 1 (or null), got {samples}")
        self.samples = None if samples is None else int(samples)
        self.seed = int(seed)
        if int(seeds) < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        self.seeds = int(seeds)
        if finalists is not None and int(finalists) < 1:
            raise ValueError(f"hydra.sweeper.finalists must be at least 1 or null, got {finalists}")
        self.finalists = None if finalists is None else int(finalists)
        self.params = dict(params or {})
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self._job = 0  # the launcher's job counter across rungs and brackets

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def space(self, arguments: Sequence[str]) -> Space:
        """The sweep's space: ``params`` and the command line's overrides."""
        loader = self.hydra_context.config_loader if self.hydra_context else None
        space = Space.parse([*(f"{k}={v}" for k, v in self.params.items()), *arguments], loader)
        owned = [k for k in space.keys if k in OWNED]
        if owned:
            raise ValueError(
                f"{owned[0]} is set by the halving sweeper: use hydra.sweeper.min_budget, "
                "hydra.sweeper.max_budget and hydra.sweeper.eta"
            )
        return space

    def step_rungs(self, sweep_dir: Path) -> list[int]:
        """The rungs in training steps (``cpu_seconds``: calibrated once, :mod:`menu.calibrate`)."""
        if self.unit == "steps":
            return list(self.budgets)
        from omegaconf import open_dict

        from menu.calibrate import calibrated, sweep_base

        assert self.config is not None
        cfg = sweep_base(self.config)
        with open_dict(cfg):
            cfg.budget.max_cpu_seconds = self.budgets[-1]
        per_second = calibrated(cfg, sweep_dir)["max_steps"] / self.budgets[-1]
        return [max(1, round(b * per_second)) for b in self.budgets]

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        assert self.config is not None and self.launcher is not None
        space = self.space(arguments)
        if self.samples is None and space.continuous:
            space.grid()  # raises: an interval needs samples
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        steps = self.step_rungs(sweep_dir)
        n = self.samples if self.samples is not None else len(space.grid())
        rng = random.Random(self.seed)
        state: dict[str, Any] = {
            "unit": self.unit,
            "budgets": self.budgets,
            "rungs": steps,  # the budgets in training steps
            "eta": self.eta,
            "hyperband": self.hyperband,
            "configurations": [],  # each distinct configuration once (index: its place)
            "run_dirs": {},  # configuration index: its run folder
            "brackets": [],  # rungs, members, values per rung, promoted per rung
        }

        def save() -> None:
            (sweep_dir / "search.json").write_text(json.dumps(state, indent=1), encoding="utf-8")

        configs: list[list[str]] = []  # state["configurations"] as override lists
        keys: list[tuple[str, bool]] = []  # what each trains (menu.models.build.canonical)
        returns: list[Sequence[JobReturn]] = []
        finalists: dict[int, float] = {}  # the last rung's configurations and values
        self._job = 0
        for first, size in brackets(len(steps), self.eta, n, self.hyperband):
            drawn = space.draw(size, rng) if self.samples is not None or first else space.grid()
            for c in drawn:
                if c not in configs:
                    configs.append(c)
                    state["configurations"].append(" ".join(c))
            keys += self.model_keys(configs[len(keys) :], steps[-1])
            state["twins"] = twins(keys)
            if state["twins"]:
                log.info("%d configuration(s) train the same model as another (e.g. a scale "
                         "layer that upsamples by 1): each model trains once",
                         len(state["twins"]))  # fmt: skip
            bracket: dict[str, Any] = {"rungs": steps[first:],
                                       "members": [configs.index(c) for c in drawn],
                                       "values": [], "promoted": []}  # fmt: skip
            state["brackets"].append(bracket)
            survivors = self.halve(bracket, configs, steps[-1], state, save, returns)
            for i, v in survivors.items():
                finalists[i] = min(v, finalists.get(i, v))
        if self.seeds > 1 and finalists:  # the survivors again with other seeds: spread, CIs
            best = sorted(finalists, key=lambda i: (finalists[i], i))[: self.finalists]
            batch = [
                [*(o for o in configs[i] if not o.startswith("seed=")),
                 f"seed={seed}", f"budget.max_steps={steps[-1]}"]
                for i in best
                for seed in range(1, self.seeds)
            ]  # fmt: skip
            self.validate_batch_is_legal(batch)
            log.info("finalists: %d run(s) with seeds 1..%d", len(batch), self.seeds - 1)
            returns.append(self.launcher.launch(batch, initial_job_idx=self._job))
            state["seed_runs"] = [" ".join(b) for b in batch]
            save()
        return returns

    def halve(
        self,
        bracket: dict[str, Any],
        configs: list[list[str]],
        final: int,
        state: dict[str, Any],
        save: Callable[[], None],
        returns: list[Sequence[JobReturn]],
    ) -> dict[int, float]:
        """Successive halving of one bracket (its members from its first rung on), the
        values and promotions written into ``bracket``; the configurations that finished its
        last rung with a value, and that value."""
        same = state.get("twins", {})
        alive = list(dict.fromkeys(same.get(str(i), i) for i in bracket["members"]))
        values: dict[int, float | None] = {}
        for k, rung in enumerate(bracket["rungs"]):
            batch = [[*configs[i], f"budget.max_steps={final}", f"budget.rung_steps={rung}"]
                     for i in alive]  # fmt: skip
            self.validate_batch_is_legal(batch)
            log.info("bracket %d, rung %d: %d configuration(s) to %d steps",
                     len(state["brackets"]) - 1, k, len(batch), rung)  # fmt: skip
            results = self.launcher.launch(batch, initial_job_idx=self._job)
            self._job += len(batch)
            returns.append(results)
            failed = [r for r in results if r.status != JobStatus.COMPLETED]
            if results and len(failed) == len(results):  # nothing ran: keep the last state
                raise RuntimeError(
                    f"every job of rung {k} ({rung} steps) failed, search.json left as it "
                    f"was; the first: {failed[0]._return_value!r}"
                )
            for r in failed:
                log.error("%s failed: %r", " ".join(r.overrides or []), r._return_value)
            values = {i: self.value(r, rung) for i, r in zip(alive, results, strict=True)}
            for i, r in zip(alive, results, strict=True):
                if (run_dir := _run_dir(r)) is not None:
                    state["run_dirs"][str(i)] = str(run_dir)
            bracket["values"].append({str(i): v for i, v in values.items()})
            if k + 1 < len(bracket["rungs"]):
                alive = promote(values, self.eta)
                bracket["promoted"].append(alive)
            save()
            if not alive:
                log.error("no run of this rung has a validation CER: the bracket stops")
                return {}
        return {i: v for i, v in values.items() if v is not None}

    def model_keys(self, configs: Sequence[Sequence[str]], final: int) -> list[tuple[str, bool]]:
        """For each configuration, a fingerprint of the model it trains (its composed config
        made canonical) and whether it is written canonically; without Hydra's config loader
        (tests) the overrides themselves."""
        if self.hydra_context is None or self.config is None:
            return [(" ".join(c), True) for c in configs]
        from omegaconf import open_dict

        from menu.models.build import canonical
        from menu.record import identity_sha256

        cache: dict[str, Any] = {}  # the conv stage of each conv node
        out = []
        for c in configs:
            cfg = self.hydra_context.config_loader.load_sweep_config(
                self.config, [*c, f"budget.max_steps={final}"]
            )
            with open_dict(cfg):
                del cfg["hydra"]
            try:
                same = canonical(cfg, cache)
            except Exception:  # its job fails with this error, in its record
                out.append((" ".join(c), True))
                continue
            out.append((identity_sha256(same), same is cfg))
        return out

    def value(self, job: JobReturn, steps: int) -> float | None:
        """What a job of a rung is ranked by: the best validation CER of its run up to the
        rung (from its record); a job without a record (a fake launcher in tests) is ranked
        by its return value. A job that failed (or was refused) has none, whatever record its
        folder holds from an earlier rung."""
        if job.status != JobStatus.COMPLETED:
            return None
        run_dir = _run_dir(job)
        record = read_result(run_dir) if run_dir is not None else None
        if record is not None:
            return value_at(record, steps)
        return None if job.return_value is None else float(job.return_value)
