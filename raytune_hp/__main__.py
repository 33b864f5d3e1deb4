"""``python -m raytune_hp`` is the ``raytune-hp`` command."""

import sys

from raytune_hp.cli import main

sys.exit(main())
