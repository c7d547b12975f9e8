"""`vgc` command line: arguments in, `api` calls out; nothing else lives here.

    main.py     the group, `run` (the console entry point: one-line errors, exit codes)
    options.py  options several commands share (declared once), CONTEXT
    coding.py   encode, decode, info, codecs
    train.py    train intra|residual|refiner|s2vc|pack
    batch.py    batch encode|decode
    eval.py     eval
"""

from . import batch, coding, eval, train  # noqa: F401  (each registers its commands on main)
from .main import main, run

__all__ = ["main", "run"]
