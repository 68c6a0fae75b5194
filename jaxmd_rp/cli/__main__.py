"""`python -m jaxmd_rp.cli`."""

import sys

from . import main

sys.exit(main())
