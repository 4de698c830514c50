"""Entry point of `python -m lenet_viz.bench`."""

from .runner import main

raise SystemExit(main())
