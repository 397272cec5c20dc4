#!/usr/bin/env python3
"""ferryd's digests against Python's hashlib and zlib: FTP HASH/OPTS HASH/RANG/XSHA256 (ftplib)
and SFTP check-file (paramiko's SFTPFile.check), on files of 0 bytes, 1 byte, 3 MiB and a big
one uploaded here as a stream; ABOR during a digest of the big file; 450 while a file is being
uploaded; and a user without the download right refused on both protocols.

Usage: digest_suite.py HOST FTP_PORT SFTP_PORT USER PASSWORD BIG_SIZE NO_DOWNLOAD_USER

Raises (exit status 1) on the first answer that is not the expected one.
"""

import ftplib
import hashlib
import io
import random
import socket
import sys
import time
import zlib

import paramiko

try:
    from paramiko.py3compat import long
except ImportError:  # paramiko 3 has no py3compat; its `long` is a subclass of int there too
    from paramiko.util import long  # noqa: F811

BLOCK = 1 << 20


def check(condition, what, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail!r}")
    print(f"ok: {what}", flush=True)


def reference(algorithm, data):
    if algorithm == "CRC32":
        return "%08x" % zlib.crc32(data)
    name = {"SHA-256": "sha256", "SHA-512": "sha512", "SHA-1": "sha1", "MD5": "md5"}[algorithm]
    return hashlib.new(name, data).hexdigest()


class Pattern:
    """The big file: 1 MiB blocks of seeded random bytes, each rotated by its index so that no
    two blocks are alike. Read as a file by ftplib's storbinary."""

    def __init__(self, size):
        self.base = random.Random(20).randbytes(BLOCK)
        self.size = size
        self.position = 0

    def block(self, index):
        shift = (index * 4099) % BLOCK
        return self.base[shift:] + self.base[:shift]

    def slice(self, start, end):
        """Bytes start..end (end excluded)."""
        out = bytearray()
        index = start // BLOCK
        while index * BLOCK < end:
            block = self.block(index)
            low = max(start - index * BLOCK, 0)
            high = min(end - index * BLOCK, BLOCK)
            out += block[low:high]
            index += 1
        return bytes(out)

    def read(self, wanted=BLOCK):
        if self.position >= self.size:
            return b""
        index = self.position // BLOCK
        data = self.block(index)[self.position % BLOCK:][:wanted]
        data = data[: self.size - self.position]
        self.position += len(data)
        return data


def ftp_login(host, port, user, password):
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=120)
    ftp.login(user, password)
    return ftp


def hash_reply(ftp, name):
    reply = ftp.sendcmd(f"HASH {name}")
    check(reply.startswith("213 "), f"HASH {name} answers 213", reply)
    return reply[4:]


def main(host, ftp_port, sftp_port, user, password, big_size, outsider):
    ftp_port, sftp_port, big_size = int(ftp_port), int(sftp_port), int(big_size)
    ftp = ftp_login(host, ftp_port, user, password)
    small = {
        "empty.bin": b"",
        "one.bin": b"\x5a",
        "medium.bin": random.Random(7).randbytes(3 * BLOCK + 5),
    }
    for name, data in small.items():
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))
    big = Pattern(big_size)
    sha256 = hashlib.sha256()

    class Hashing:
        def read(self, wanted):
            data = big.read(wanted)
            sha256.update(data)
            return data

    started = time.monotonic()
    ftp.storbinary("STOR big.bin", Hashing(), blocksize=BLOCK)
    print(f"uploaded {big_size} bytes in {time.monotonic() - started:.1f} s", flush=True)
    big_sha256 = sha256.hexdigest()

    features = ftp.sendcmd("FEAT")
    check("HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32" in features, "FEAT lists HASH", features)
    for algorithm in ["SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"]:
        check(ftp.sendcmd(f"OPTS HASH {algorithm}") == f"200 {algorithm}", f"OPTS HASH {algorithm}")
        for name, data in small.items():
            expected = f"{algorithm} 0-{len(data)} {reference(algorithm, data)} {name}"
            got = hash_reply(ftp, name)
            check(got == expected, f"HASH {name} with {algorithm}", (got, expected))
    for verb, algorithm in [("XSHA256", "SHA-256"), ("XCRC", "CRC32"), ("XMD5", "MD5")]:
        got = ftp.sendcmd(f"{verb} medium.bin")
        expected = "250 " + reference(algorithm, small["medium.bin"]).upper()
        check(got == expected, verb, (got, expected))

    # The big file: whole, and a range across block boundaries.
    ftp.sendcmd("OPTS HASH SHA-256")
    started = time.monotonic()
    got = hash_reply(ftp, "big.bin")
    print(f"HASH of {big_size} bytes: {time.monotonic() - started:.1f} s", flush=True)
    check(got == f"SHA-256 0-{big_size} {big_sha256} big.bin", "HASH of the big file", got)
    first, last = BLOCK - 10, min(big_size - 1, 5 * BLOCK + 12345)
    ftp.sendcmd(f"RANG {first} {last}")
    got = hash_reply(ftp, "big.bin")
    part = hashlib.sha256(big.slice(first, last + 1)).hexdigest()
    check(got == f"SHA-256 {first}-{last} {part} big.bin", "HASH with RANG", got)
    # RETR honours RANG too: the same bytes.
    received = bytearray()
    ftp.sendcmd(f"RANG {first} {last}")
    ftp.retrbinary("RETR big.bin", received.extend)
    check(bytes(received) == big.slice(first, last + 1), "RETR with RANG", len(received))

    # ABOR during a digest of the big file: 426 then 226, at once.
    ftp.sendcmd("OPTS HASH SHA-512")
    ftp.putcmd("HASH big.bin")
    time.sleep(0.3)
    aborted = time.monotonic()
    ftp.putcmd("ABOR")
    first_reply = ftp.getline()
    second_reply = ftp.getline()
    took = time.monotonic() - aborted
    check(first_reply.startswith("426") and second_reply.startswith("226"), "ABOR: 426 then 226",
          (first_reply, second_reply))
    check(took < 2.0, "ABOR answered within 2 s", took)
    print(f"ABOR answered in {took * 1000:.0f} ms", flush=True)
    check(ftp.sendcmd("NOOP").startswith("200"), "the session goes on")

    # 450 while an upload to the file runs.
    uploader = ftp_login(host, ftp_port, user, password)
    uploader.voidcmd("TYPE I")
    data_connection = uploader.transfercmd("STOR moving.bin")
    data_connection.sendall(b"x" * 65536)
    time.sleep(0.3)
    try:
        ftp.sendcmd("HASH moving.bin")
        raise AssertionError("HASH of a file being uploaded succeeded")
    except ftplib.error_temp as error:
        check(str(error).startswith("450"), "HASH during an upload: 450", str(error))
    data_connection.close()
    uploader.voidresp()
    uploader.quit()

    # SFTP check-file: paramiko sends `check-file` with a handle.
    transport = paramiko.Transport((host, sftp_port))
    transport.connect(username=user, password=password)
    sftp = paramiko.SFTPClient.from_transport(transport)
    for name, data in small.items():
        for algorithm, module in [("sha256", "sha256"), ("sha512", "sha512"), ("sha1", "sha1"),
                                  ("md5", "md5")]:
            with sftp.open(name, "rb") as remote:
                got = remote.check(algorithm, 0, 0, 0)
            check(got == hashlib.new(module, data).digest(), f"check-file {name} {algorithm}")
    medium = small["medium.bin"]
    with sftp.open("medium.bin", "rb") as remote:
        got = remote.check("sha256", 100, 2 * BLOCK, 0)
        check(got == hashlib.sha256(medium[100:100 + 2 * BLOCK]).digest(), "check-file range")
        got = remote.check("md5", 0, 0, BLOCK)
        blocks = b"".join(hashlib.md5(medium[i:i + BLOCK]).digest()
                          for i in range(0, len(medium), BLOCK))
        check(got == blocks, "check-file in 1 MiB blocks (4 digests)", len(got))
        try:
            remote.check("sha256", 0, 0, 100)
            raise AssertionError("a block size below 256 was taken")
        except IOError as error:
            check(True, "a block size below 256 is refused", str(error))
    started = time.monotonic()
    with sftp.open("big.bin", "rb") as remote:
        got = remote.check("sha256", 0, 0, 0)
    print(f"check-file of {big_size} bytes: {time.monotonic() - started:.1f} s", flush=True)
    check(got.hex() == big_sha256, "check-file of the big file")
    sftp.close()
    transport.close()

    # An SFTP session that ends stops its check-file: with --max-hashing 1 (as the Rust test
    # starts ferryd), the next digest starts at once instead of after the big one.
    transport = paramiko.Transport((host, sftp_port))
    transport.connect(username=user, password=password)
    sftp = paramiko.SFTPClient.from_transport(transport)
    remote = sftp.open("big.bin", "rb")
    sftp._async_request(type(None), paramiko.sftp.CMD_EXTENDED, "check-file", remote.handle,
                        "sha512", long(0), long(0), 0)
    time.sleep(0.3)
    ftp.sendcmd("OPTS HASH SHA-256")
    transport.close()
    started = time.monotonic()
    got = hash_reply(ftp, "one.bin")
    took = time.monotonic() - started
    check(got.startswith("SHA-256 0-1 "), "HASH after a closed SFTP session's check-file", got)
    check(took < 1.0, "the closed session's digest gave its place back at once", took)
    ftp.quit()

    # A user who may list but not download: 550 over FTP, permission denied over SFTP.
    other = ftp_login(host, ftp_port, outsider, password)
    try:
        other.sendcmd("HASH /shared/one.bin")
        raise AssertionError("HASH without the download right succeeded")
    except ftplib.error_perm as error:
        check(str(error).startswith("550"), "HASH without the download right: 550", str(error))
    other.quit()
    transport = paramiko.Transport((host, sftp_port))
    transport.connect(username=outsider, password=password)
    sftp = paramiko.SFTPClient.from_transport(transport)
    try:
        sftp._request(paramiko.sftp.CMD_EXTENDED, "check-file-name", "/shared/one.bin", "sha256",
                      long(0), long(0), 0)
        raise AssertionError("check-file-name without the download right succeeded")
    except IOError as error:
        check(True, "check-file-name without the download right is refused", str(error))
    sftp.close()
    transport.close()


if __name__ == "__main__":
    socket.setdefaulttimeout(120)
    main(*sys.argv[1:])
