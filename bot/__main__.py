"""`python -m bot`: start the Discord bot."""

import sys

from .app import main

sys.exit(main())
