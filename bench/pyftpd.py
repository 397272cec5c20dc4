"""pyftpdlib launcher for the benchmark: one named user, read-write, on a loopback port.

Usage: python3 pyftpd.py PORT USER PASSWORD HOME
Prints "Listening on ftp://127.0.0.1:PORT" when ready. Connection caps are lifted (its defaults
are 512 sessions and 0 per IP) so that the idle-session row can reach 10,000; everything else,
including sendfile(2) and the listen backlog of 100, is pyftpdlib's default.
"""

import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main() -> None:
    port, user, password, home = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    # One log line per command to stderr would cost it CPU that the other servers do not spend.
    logging.basicConfig(level=logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, home, perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = authorizer
    server = FTPServer(("127.0.0.1", port), handler)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    print(f"Listening on ftp://127.0.0.1:{port}", flush=True)
    server.serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
