#!/usr/bin/env python3
"""paramiko against ferryd's SFTP: put, get with prefetch (many reads in flight), listing with
attributes, rename, remove, folders, and the errors a missing file gives.

Usage: paramiko_suite.py HOST PORT USER PASSWORD

Raises (exit status 1) on the first reply that is not the expected one; the Rust test
(crates/ferry-interop/tests/sftp.rs) checks the stored bytes afterwards.
"""

import errno
import io
import sys

import paramiko


def check(condition, what, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail!r}")
    print(f"ok: {what}")


def payload(size):
    return bytes((i * 7 + (i >> 9)) % 256 for i in range(size))


def main(host, port, user, password):
    transport = paramiko.Transport((host, port))
    transport.connect(username=user, password=password)
    sftp = paramiko.SFTPClient.from_transport(transport)
    data = payload(2 * 1024 * 1024 + 123)
    sftp.putfo(io.BytesIO(data), "up.bin")
    check(sftp.stat("up.bin").st_size == len(data), "stat gives the uploaded size")
    out = io.BytesIO()
    # Prefetch sends the reads for the whole file before reading a reply (paramiko 2.12 has no
    # cap; later versions take max_concurrent_prefetch_requests).
    sftp.getfo("up.bin", out, prefetch=True)
    check(out.getvalue() == data, "getfo with prefetch gets every byte")
    sftp.mkdir("folder")
    sftp.rename("up.bin", "folder/moved.bin")
    names = sorted(a.filename for a in sftp.listdir_attr("folder"))
    check(names == ["moved.bin"], "listdir_attr", names)
    with sftp.open("folder/moved.bin", "rb") as f:
        f.seek(1000)
        check(f.read(10) == data[1000:1010], "a read at an offset")
    try:
        sftp.stat("missing")
        raise AssertionError("stat of a missing file succeeded")
    except IOError as error:
        check(error.errno == errno.ENOENT, "a missing file is ENOENT", error)
    with sftp.open("small.txt", "wb") as f:
        f.write(b"written by paramiko\n")
    sftp.remove("folder/moved.bin")
    sftp.rmdir("folder")
    check(sorted(sftp.listdir(".")) == ["small.txt"], "what is left", sftp.listdir("."))
    sftp.close()
    transport.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
    print("paramiko suite: all checks passed")
