"""`python -m lenet_viz` is the same as the `lenet-viz` command."""

import sys

from .cli import main

sys.exit(main())
