"""``hydra/sweeper=halving``: Hydra instantiates sweepers only from the ``hydra_plugins``
namespace, so menu's successive-halving sweeper (:mod:`menu.search`) is named here."""

from menu.search import HalvingSweeper as _HalvingSweeper


class HalvingSweeper(_HalvingSweeper):
    """Successive halving over menu's grid (see :mod:`menu.search`)."""
