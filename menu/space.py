"""A sweep's search space from Hydra's override grammar: the grid of its lists, or draws.

The discrete sweeps of the basic sweeper (``conv=vgg,resnet``, ``norm=glob(*)``,
``choice(a,b)``, ``range(1,5)``) span a grid. Continuous knobs use the grammar Hydra's
Optuna sweeper uses: ``interval(a,b)`` (uniform), ``tag(log,interval(a,b))`` (log-uniform),
``int(interval(a,b))`` (integers; ``tag(log,int(interval(16,256)))`` for widths)::

    menu-train -m hydra/sweeper=halving hydra.sweeper.samples=60 conv=glob(*) \\
        optim.optimizer.lr='tag(log,interval(3e-4,3e-3))' seq.hidden='int(interval(64,256))'

A space with an interval has no grid: its configurations are drawn (``samples`` of them).
Draws are seeded, so the same command draws the same configurations. (Why not Optuna
through ``hydra-optuna-sweeper``: its last release, 1.3.0, pins ``optuna<3`` and runs every
trial to the end, with no pruner; halving over draws is the pruning.)
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override


@dataclass(frozen=True)
class Interval:
    """A continuous knob: ``lo..hi``, log-uniform if ``log``, integers if ``integer``."""

    lo: float
    hi: float
    log: bool = False
    integer: bool = False

    def draw(self, rng: random.Random) -> str:
        if self.log:
            x = math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))
        else:
            x = rng.uniform(self.lo, self.hi)
        return str(min(int(self.hi), max(int(self.lo), round(x)))) if self.integer else f"{x:.4g}"


@dataclass
class Space:
    """Each swept key with its values (a list of strings) or an :class:`Interval`."""

    keys: list[str]
    values: list[list[str] | Interval]

    @classmethod
    def parse(cls, overrides: Sequence[str], loader: object | None = None) -> Space:
        """The space of a command line's overrides (``loader``: Hydra's config loader, for
        ``glob(*)`` over config groups)."""
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(list(overrides))
        space = cls([], [])
        for o in parsed:  # a key given twice: the later value wins (as in the basic sweeper)
            key, values = o.get_key_element(), _values(o)
            if key in space.keys:
                space.values[space.keys.index(key)] = values
            else:
                space.keys.append(key)
                space.values.append(values)
        return space

    @property
    def continuous(self) -> bool:
        return any(isinstance(v, Interval) for v in self.values)

    def grid(self) -> list[list[str]]:
        """Every combination of the lists, in the basic sweeper's order."""
        if self.continuous:
            key = next(
                k for k, v in zip(self.keys, self.values, strict=True) if isinstance(v, Interval)
            )
            raise ValueError(
                f"{key} is an interval: a space with one has no grid; set hydra.sweeper.samples "
                "to draw that many configurations"
            )
        lists = [[f"{k}={v}" for v in vs] for k, vs in zip(self.keys, self.values, strict=True)]
        return [list(c) for c in itertools.product(*lists)]

    def size(self) -> float:
        """The number of configurations (infinite with an interval)."""
        return math.inf if self.continuous else math.prod(len(v) for v in self.values)  # type: ignore[arg-type]

    def draw(self, n: int, rng: random.Random) -> list[list[str]]:
        """``n`` distinct configurations: drawn without replacement from the grid (all of
        it, in order, if it has at most ``n``), or at random with intervals."""
        if not self.continuous:
            grid = self.grid()
            if n >= len(grid):
                return grid
            return [grid[i] for i in sorted(rng.sample(range(len(grid)), n))]
        out: list[list[str]] = []
        for _ in range(100 * n):
            c = [
                f"{k}={v.draw(rng) if isinstance(v, Interval) else rng.choice(v)}"
                for k, v in zip(self.keys, self.values, strict=True)
            ]
            if c not in out:
                out.append(c)
            if len(out) == n:
                break
        return out


def _values(o: Override) -> list[str] | Interval:
    if not o.is_sweep_override():
        return [o.get_value_element_as_str()]
    if o.is_discrete_sweep():
        return list(o.sweep_string_iterator())
    sweep = o.value()
    assert isinstance(sweep, IntervalSweep)
    lo, hi = sweep.start, sweep.end
    if not lo < hi:
        raise ValueError(
            f"{o.get_key_element()}: interval({lo}, {hi}) needs its start below its end"
        )
    log = "log" in (sweep.tags or set())
    if log and lo <= 0:
        raise ValueError(f"{o.get_key_element()}: a log interval needs a positive start, got {lo}")
    return Interval(float(lo), float(hi), log, isinstance(lo, int) and isinstance(hi, int))
