"""`python -m fal_platform.cli`: the same router as the `fal-platform` console script."""

import sys

from fal_platform.cli import main

sys.exit(main())
