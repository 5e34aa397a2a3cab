"""``python -m airflow_querystatus.emulator [--host 127.0.0.1] [--port 4599]``: serve until killed.

It starts with the running queries the example DAGs wait on (``--no-examples``: empty), so
``airflow dags test <example>`` works against it with nothing else set up.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import threading

from airflow_querystatus.emulator.examples import plant_examples
from airflow_querystatus.emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (others are refused)")
    parser.add_argument("--port", type=int, default=4599)
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (and --tls-key)")
    parser.add_argument("--tls-key", help="the certificate's PEM private key")
    parser.add_argument("--credentials", action="append", default=[], metavar="KEY:SECRET",
                        help="verify the SigV4 signature of requests signed with this access key (repeatable)")
    parser.add_argument("--no-examples", action="store_true",
                        help="start empty, without the running queries the example DAGs wait on")
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
    server.start()
    print(f"emulator listening on {server.url}", flush=True)
    if planted:
        print(f"planted {len(planted)} running queries the example DAGs wait on (--no-examples: start empty)",
              flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
