"""Sweep tables (``menu-table``): run records (``result.json``) into pandas, configurations
compared.

``load_runs`` reads every ``result.json`` under some folders into a DataFrame, one row per
record; an unreadable or partial record becomes a row with status ``unreadable`` (and a run
nested inside another run, e.g. ``RUN/reproduce/``, a row with status ``nested``), so nothing
is dropped silently. ``aggregate`` prints and writes (CSV, Markdown, LaTeX, PNG):

* ``runs``: every run (choices, CER, WER, parameters, lines/s, training time, status);
* ``pivot``: test CER over two axes, mean ± std over runs (seeds) per cell, best cell marked;
* ``configs``: one row per configuration with a bootstrap CI and a test against the best;
* ``problems``: failed, running, unreadable and nested runs, with their errors;
* ``heatmap.png`` (the pivot) and ``pareto.png`` (CER against lines/s and parameters).

Statistics (what the marks mean):

* A *configuration* is a run's choices plus its overrides other than ``seed=`` (and keys that
  do not change the experiment: name, sweep, threads, data.workers, force, hydra.*), so runs
  that differ only in seed are pooled.
* CI of a configuration's CER: percentile bootstrap over test lines. Its runs' per-line errors
  (``test_lines.csv``) are summed per line key across seeds, lines are resampled with
  replacement and CER = sum(char_errors) / sum(ref_chars) in each resample. It measures the
  test-set sampling error of these trained models, not the seed variance (the std shows that).
* Against the best configuration (lowest mean test CER among those with per-line errors): a
  paired bootstrap of the CER difference, resampling the same line keys for both, when the two
  share at least half of each one's line keys; the difference is *not significant* ("n.s.",
  "≈" in the pivot) when its CI contains 0. Otherwise the overlap rule: not significant when
  the two CIs overlap (conservative: it misses some real differences).
"""

from menu.tables.load import LINES, axis_columns, find_results, load_runs, varying_axes
from menu.tables.report import aggregate
from menu.tables.stats import bootstrap_ci, paired_bootstrap, pivot, read_lines, summarize

__all__ = [
    "LINES",
    "aggregate",
    "axis_columns",
    "bootstrap_ci",
    "find_results",
    "load_runs",
    "paired_bootstrap",
    "pivot",
    "read_lines",
    "summarize",
    "varying_axes",
]
