"""Games with known structure, on the `AbstractGame` API."""

from ._river import (
    DEFAULT_PROBE as DEFAULT_PROBE,
    DEFAULT_THETA as DEFAULT_THETA,
    RiverPollution as RiverPollution,
)
