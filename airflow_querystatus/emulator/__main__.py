"""``python -m airflow_querystatus.emulator [--host 127.0.0.1] [--port 4599]``: serve until killed.

It starts with what the example DAGs need (the running queries they wait on, the log groups
they query; ``--no-examples``: empty), so ``airflow dags test <example>`` works against it with
nothing else set up. ``--port 0`` takes any free port; the first line printed says which
(``emulator listening on http://127.0.0.1:PORT``). A port it cannot listen on (one in use) is a
one-line error naming it, and exit status 1. ``--quota OP=RATE[:BURST]`` (repeatable) sets the
account's quotas (docs/emulator.rst, "Quotas"); a wrong one is an error naming ``--quota``.
"""

from __future__ import annotations

import argparse
import errno
import signal
import ssl
import sys
import threading

from airflow_querystatus.emulator.errors import ControlError
from airflow_querystatus.emulator.examples import plant_examples
from airflow_querystatus.emulator.quotas import Quota
from airflow_querystatus.emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (others are refused)")
    parser.add_argument("--port", type=int, default=4599, help="the port to listen on; 0: any free one (default 4599)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (and --tls-key)")
    parser.add_argument("--tls-key", help="the certificate's PEM private key")
    parser.add_argument("--credentials", action="append", default=[], metavar="KEY:SECRET",
                        help="verify the SigV4 signature of requests signed with this access key (repeatable)")
    parser.add_argument("--quota", action="append", default=[], type=_quota, metavar="OP=RATE[:BURST]",
                        help="an account-wide quota: OP (API name, e.g. GetQueryResults; '*': every operation "
                             "without its own) answers at most RATE calls a second, BURST at once (default "
                             "max(1, RATE)), then the service's ThrottlingException (repeatable)")
    parser.add_argument("--no-examples", action="store_true",
                        help="start empty, without the running queries and log groups the example DAGs need")
    args = parser.parse_args(argv)
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    server = EmulatorServer(host=args.host, port=args.port, ssl_context=context)
    for pair in args.credentials:
        key, _, secret = pair.partition(":")
        server.emulator.credentials.register(key, secret)
    planted = [] if args.no_examples else plant_examples(server.emulator)
    try:
        server.start()
    except OSError as err:
        reason = "it is in use" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
        sys.exit(f"emulator: cannot listen on {args.host} port {args.port} (--port {args.port}): {reason}; "
                 "give another port, or --port 0 for any free one")
    for operation, quota in args.quota:  # names are checked against what the started server answers
        try:
            server.emulator.set_quota(operation, quota.rate, quota.burst)
        except ControlError as err:
            server.stop()
            parser.error(f"argument --quota: {err}")
    print(f"emulator listening on {server.url}", flush=True)
    if not args.no_examples:
        groups = len(server.emulator.all_log_groups())
        print(f"planted {len(planted)} running queries the example DAGs wait on and {groups} log group(s) they "
              "query (--no-examples: start empty)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


def _quota(text: str) -> tuple[str, Quota]:
    """``--quota OP=RATE[:BURST]``; argparse names the flag in the error."""
    try:
        return Quota.parse(text)
    except ControlError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


if __name__ == "__main__":
    main()
