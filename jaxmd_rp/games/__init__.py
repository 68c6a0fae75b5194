"""Games with known structure, on the `AbstractGame` API."""

from ._budget import BudgetGame as BudgetGame
from ._cournot import CournotPollution as CournotPollution
from ._finite import AbstractFiniteGame as AbstractFiniteGame
from ._finite import InspectionGame as InspectionGame
from ._public_goods import PublicGoods as PublicGoods
from ._river import (
    DEFAULT_PROBE as DEFAULT_PROBE,
)
from ._river import (
    DEFAULT_THETA as DEFAULT_THETA,
)
from ._river import (
    RiverPollution as RiverPollution,
)
