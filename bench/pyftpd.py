"""pyftpdlib launcher for the benchmark: one named user, read-write, on a loopback port.

Usage: python3 pyftpd.py PORT USER PASSWORD HOME [CERT KEY]
Prints "Listening on ftp://127.0.0.1:PORT" when ready. Connection caps are lifted (its defaults
are 512 sessions and 0 per IP) so that the idle-session row can reach 10,000; everything else,
including sendfile(2) and the listen backlog of 100, is pyftpdlib's default.

With CERT and KEY (PEM files) it serves explicit FTPS (AUTH TLS) through TLS_FTPHandler, which
needs pyOpenSSL. TLS is then required on the control and the data connections, as the benchmark
asks of vsftpd (force_local_*_ssl) and Pure-FTPd (-Y 3); pyftpdlib's TLS defaults otherwise (it
does not use sendfile(2) under TLS).
"""

import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main() -> None:
    if len(sys.argv) not in (5, 7):
        sys.exit(__doc__)
    port, user, password, home = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    # One log line per command to stderr would cost it CPU that the other servers do not spend.
    logging.basicConfig(level=logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, home, perm="elradfmwMT")
    handler: type[FTPHandler] = FTPHandler
    if len(sys.argv) == 7:
        # pyftpdlib.handlers leaves TLS_FTPHandler out, silently, when pyOpenSSL is missing:
        # import it first so that its absence is what the error says.
        import OpenSSL  # noqa: F401
        from pyftpdlib.handlers import TLS_FTPHandler

        handler = TLS_FTPHandler
        handler.certfile, handler.keyfile = sys.argv[5], sys.argv[6]
        handler.tls_control_required = True
        handler.tls_data_required = True
    handler.authorizer = authorizer
    server = FTPServer(("127.0.0.1", port), handler)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    print(f"Listening on ftp://127.0.0.1:{port}", flush=True)
    server.serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
