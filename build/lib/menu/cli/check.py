"""`menu-check-option DIR`: run the project's grid check on the options of your own config
folder: every option YAML in DIR/<group>/ (norm, conv, scale, reduce, seq) is built with every
option of the other groups and run forward and backward at several widths."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from menu.config import GROUPS, ConfigError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="menu-check-option", description=__doc__)
    p.add_argument("folder", help="your config folder (holds e.g. reduce/mine.yaml)")
    args = p.parse_args(argv)
    folder = Path(args.folder).resolve()
    mine = [(g, f.stem) for g in GROUPS for f in sorted((folder / g).glob("*.yaml"))]
    if not mine:
        sys.exit(f"menu-check-option: error: no option files in {folder}/<{'|'.join(GROUPS)}>/")
    paths = [str(folder), *filter(None, os.environ.get("MENU_CONFIG_PATH", "").split(os.pathsep))]
    os.environ["MENU_CONFIG_PATH"] = os.pathsep.join(paths)
    sys.path.insert(0, os.getcwd())  # the user's own package, as `python -m` would find it

    from menu.models.build import ConfigConflict
    from menu.models.check import check_combination, combinations_with, compose_combination

    failed = 0
    for group, option in mine:
        ok, refused, errors = 0, 0, []
        for combo in combinations_with(group, option):
            try:
                check_combination(compose_combination(combo))
                ok += 1
            except ConfigConflict:
                refused += 1  # an impossible combination, refused by a stated rule
            except (AssertionError, ConfigError, RuntimeError, TypeError, ValueError) as e:
                errors.append(f"  {'/'.join(combo)}: {type(e).__name__}: {e}")
        print(f"{group}={option}: {ok} combinations ok, {refused} refused by rule, "
              f"{len(errors)} failed")  # fmt: skip
        print("\n".join(errors[:20]), end="\n" if errors else "")
        failed += len(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
