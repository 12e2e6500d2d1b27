"""``python -m deepaccomp`` and the ``deepaccomp`` command: :func:`deepaccomp.cli.main`, Ctrl-C-safe.

The command line's modules (numpy, pretty_midi...) are imported inside
:func:`run`, so Ctrl-C while they load exits with status 130 and one line, as
it does later (:func:`deepaccomp.cli.main`), never with a traceback.
"""

from __future__ import annotations

import sys

__all__ = ["run"]


def run(argv=None) -> int:
    """Import the command line and run it; return its exit status (130 for Ctrl-C)."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("deepaccomp: interrupted", file=sys.stderr)
        return 130
    return main(argv)


if __name__ == "__main__":
    sys.exit(run())
