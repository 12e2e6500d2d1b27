"""``python -m deepaccomp`` and the ``deepaccomp`` command: :func:`deepaccomp.cli.main`, Ctrl-C-safe.

The command line's modules (numpy, pretty_midi...) are imported inside
:func:`run`, so Ctrl-C while they load exits with status 130 and one line, as
it does later (:func:`deepaccomp.cli.main`), never with a traceback. A library
that turns a Ctrl-C during its own import into an ``ImportError`` (Keras does,
when it arrives while Keras imports ``optree``) is reported as the interruption
it was. The handler stands in for Python's default one: training's stop-signal
guard (:class:`deepaccomp.training._StopSignals`) takes it over as it would the
default, so Ctrl-C through the installed command saves a checkpoint first.
"""

from __future__ import annotations

import signal
import sys

__all__ = ["run"]


def run(argv=None) -> int:
    """Import the command line and run it; return its exit status (130 for Ctrl-C)."""
    seen = []

    def on_sigint(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    on_sigint.stands_in_for_default = True
    previous = _install(on_sigint)
    try:
        from .cli import main

        return main(argv)
    except KeyboardInterrupt:
        print("deepaccomp: interrupted", file=sys.stderr)
        return 130
    except ImportError:
        if not seen:
            raise
        print("deepaccomp: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _install(handler):
    """Put ``handler`` in place of Python's default SIGINT handler; the one it replaced, or ``None``.

    An ignored SIGINT (a job started in the background) stays ignored, and
    outside the main thread nothing changes.
    """
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        return None


if __name__ == "__main__":
    sys.exit(run())
