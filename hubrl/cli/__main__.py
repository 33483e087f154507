"""``python -m hubrl.cli``."""

import sys

from hubrl.cli import main

sys.exit(main())
