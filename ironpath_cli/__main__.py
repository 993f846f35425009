"""`python -m ironpath_cli` is the `ironpath` command."""

import sys

from ironpath_cli.main import main

sys.exit(main())
