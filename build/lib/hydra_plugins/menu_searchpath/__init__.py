"""Hydra finds this plugin (``hydra_plugins`` namespace): MENU_CONFIG_PATH config folders."""
