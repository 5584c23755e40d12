"""Adds the config folders named in ``MENU_CONFIG_PATH`` (``os.pathsep``-separated) to
Hydra's search path, after menu's own: a user's options (``my_conf/reduce/mine.yaml``)
compose, train, sweep and load in every menu command without a fork."""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class MenuSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        try:
            from menu.config import user_config_dirs
        except ImportError:  # a Hydra app of another project, or another copy of menu
            return
        for folder in user_config_dirs():
            search_path.append(provider="MENU_CONFIG_PATH", path=f"file://{folder}")
