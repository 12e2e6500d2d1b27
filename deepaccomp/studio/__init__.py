"""``deepaccomp studio``: a local, offline web page to write or upload a melody, add
the accompaniment, hear it with a General MIDI SoundFont and download the MIDI.

``create_app()`` builds the ASGI application (FastAPI on Starlette, served by
uvicorn); ``deepaccomp studio`` on the command line starts it. See docs/studio.md.
The web framework is imported on first use of ``create_app``, so that the other
``deepaccomp`` commands do not load it.
"""

from . import limits

__all__ = ["create_app", "limits"]


def __getattr__(name):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
