"""Small, named patches of moto, each documenting where moto is too kind (see each module).

install_all() is idempotent and must run before the server answers its first request.
"""

from __future__ import annotations

from . import fleet, iam_policies, reset, seeds, spot_prices

_installed = False


def install_all() -> None:
    global _installed
    if _installed:
        return
    fleet.install()
    spot_prices.install()
    seeds.install()
    reset.install()
    iam_policies.install()
    _installed = True
