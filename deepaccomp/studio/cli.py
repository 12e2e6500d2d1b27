"""The ``deepaccomp studio`` subcommand: argparse setup and handler."""

from __future__ import annotations

import socket
import sys

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_studio_parser(subparsers):
    """Add ``studio`` to the ``deepaccomp`` command's subparsers."""
    p = subparsers.add_parser("studio", help="a local web page: write or upload a melody, hear and download "
                                             "its accompaniment (offline)")
    p.add_argument("--model", default=None, help="the model chosen when the page opens: a shipped model's name (chorale, pop) or an "
                        "exported generator.npz (default: chorale); the page's Style picker lists it with "
                        "the shipped models")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this computer only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes that run the requests, each with its own copy of the models "
                        "(default: one per CPU; 0: threads in the server's process)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.set_defaults(func=cmd_studio)
    return p


def listen_socket(host: str, port: int):
    """The studio's listening TCP socket on ``host`` (a name, an IPv4 or a bracketed IPv6 address) and
    ``port``, with Nagle's algorithm off for its connections.

    Without ``TCP_NODELAY`` an answer's body waited for the client's delayed acknowledgement of its
    headers: about 40 ms added to every answer on Linux (asyncio turns Nagle off only for sockets it
    makes itself). Linux and macOS pass the option on to the accepted connections.
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.create_server((host.strip("[]"), port), family=family)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def cmd_studio(args) -> int:
    import threading
    import webbrowser

    import uvicorn

    from ..errors import ConfigError
    from .app import LOCAL_HOSTS, create_app
    from .workers import check_workers, default_workers

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    workers = default_workers() if args.workers is None else check_workers(args.workers, "--workers")
    if args.host not in LOCAL_HOSTS:
        print(f"deepaccomp studio: warning: listening on {args.host}, not on 127.0.0.1: other computers "
              "that reach this address can use the studio (there is no login)", file=sys.stderr)
    print("deepaccomp studio: loading the model ...", flush=True)
    # the Host-header guard (DNS rebinding) for IPv4 and names; Starlette cannot parse IPv6 Host headers
    hosts = list(LOCAL_HOSTS) if args.host in ("127.0.0.1", "localhost") else ["*"]
    try:  # before the model and the workers: a port in use fails at once
        sock = listen_socket(args.host, args.port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                          "is another studio running? try --port 0") from None
    app = create_app(args.model, allowed_hosts=hosts, workers=workers)
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host.strip("[]")
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    print(f"deepaccomp studio: {url}  (Ctrl+C to stop)", flush=True)
    if args.open:
        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    server.run(sockets=[sock])
    return 0
