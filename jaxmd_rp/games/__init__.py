"""Games with known structure, on the `AbstractGame` API."""

from ._river import (
    DEFAULT_PROBE as DEFAULT_PROBE,
    DEFAULT_THETA as DEFAULT_THETA,
    RiverPollution as RiverPollution,
)
from ._budget import BudgetGame as BudgetGame
from ._cournot import CournotPollution as CournotPollution
from ._finite import AbstractFiniteGame as AbstractFiniteGame, InspectionGame as InspectionGame
from ._public_goods import PublicGoods as PublicGoods
