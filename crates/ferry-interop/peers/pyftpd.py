#!/usr/bin/env python3
"""pyftpdlib on one loopback port with one user, for the interop suite (tests/common/peers.rs).

Usage: pyftpd.py --port N --user U --password P --folder DIR [--cert PEM --key PEM]

With --cert and --key it serves explicit FTPS with TLS_FTPHandler (pyOpenSSL), TLS required on
the control and data connections. Runs in the foreground until killed.
"""

import argparse
import logging

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, args.password, args.folder, perm="elradfmwMT")
    handler = FTPHandler
    if args.cert:
        from pyftpdlib.handlers import TLS_FTPHandler

        handler = TLS_FTPHandler
        handler.certfile = args.cert
        handler.keyfile = args.key
        handler.tls_control_required = True
        handler.tls_data_required = True
    handler.authorizer = authorizer
    handler.banner = "pyftpdlib ready"
    server = FTPServer(("127.0.0.1", args.port), handler)
    server.serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
