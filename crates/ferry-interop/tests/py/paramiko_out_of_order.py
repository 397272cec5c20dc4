#!/usr/bin/env python3
"""paramiko writing a file out of order over ferryd's SFTP: the write after a gap must be
refused with a message that says writes go in order, and nothing half-written may be
published (on S3 an object is written front to back).

Usage: paramiko_out_of_order.py HOST PORT USER PASSWORD

Prints `refused: MESSAGE` and exits 0 when the out-of-order write was refused; exits 1 when it
was accepted. The Rust test (crates/ferry-interop/tests/sftp.rs) checks the stored bytes.
"""

import sys

import paramiko


def main(host, port, user, password):
    transport = paramiko.Transport((host, port))
    transport.connect(username=user, password=password)
    sftp = paramiko.SFTPClient.from_transport(transport)
    f = sftp.open("f.bin", "w")
    f.write(b"0123")
    f.flush()
    f.seek(100)
    try:
        f.write(b"gap")
        f.flush()
    except IOError as error:
        print(f"refused: {error}")
    else:
        print("the write after a gap was accepted")
        return 1
    # paramiko's close() swallows a failed CLOSE (ferryd answers FAILURE here): the Rust test
    # checks that nothing was published instead.
    f.close()
    transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
