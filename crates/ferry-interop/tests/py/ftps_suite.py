#!/usr/bin/env python3
"""Python's ftplib.FTP_TLS against ferryd's explicit FTPS (RFC 4217), one section per run.

Usage: ftps_suite.py SECTION HOST PORT CAFILE

The server's certificate is VERIFIED against CAFILE (the test's self-signed certificate), host
name included (an IP address SAN for 127.0.0.1): no unverified context anywhere. ftplib never
resumes the control connection's TLS session on data connections, so the server must not require
reuse. Each section raises (exit status 1) on the first reply or byte that is not as expected;
the Rust test (tests/ftps.rs) prepares files and checks the bytes on disk afterwards.
"""

import ftplib
import io
import ssl
import sys

TIMEOUT = 10


def check(condition, what, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail!r}")
    print(f"ok: {what}")


def payload(size, seed):
    """The bytes tests/ftps.rs's `payload` makes."""
    return bytes((i * 31 + seed * 7 + (i >> 8)) % 256 for i in range(size))


def context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    check(ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname, "certificate is verified")
    return ctx


def secure(host, port, cafile):
    """Connects, AUTH TLS, logs in anonymously, PROT P."""
    ftp = ftplib.FTP_TLS(context=context(cafile), timeout=TIMEOUT)
    check(ftp.connect(host, port).startswith("220"), "greeting is 220")
    check(ftp.auth().startswith("234"), "AUTH TLS -> 234")
    version = ftp.sock.version()
    check(version in ("TLSv1.2", "TLSv1.3"), "control connection is TLS 1.2 or 1.3", version)
    check(ftp.login().startswith("230"), "anonymous login over TLS")
    check(ftp.prot_p().startswith("200"), "PBSZ 0, PROT P -> 200")
    return ftp


def retr(ftp, command):
    chunks = []
    ftp.retrbinary(command, chunks.append)
    return b"".join(chunks)


def section_transfers(host, port, cafile):
    """Upload, download and listings with PROT P, passive (PASV and EPSV) and active (PORT)."""
    served = payload(1_000_003, 1)
    ftp = secure(host, port, cafile)
    ftp.mkd("tls folder")
    for mode in ("pasv", "epsv", "port"):
        ftp.set_pasv(mode != "port")
        if mode == "epsv":
            # ftplib uses EPSV on its own only over IPv6; send it by hand here.
            ftp.makepasv = lambda: ftplib.parse229(ftp.sendcmd("EPSV"), ftp.sock.getpeername())
        data = payload(700_001, {"pasv": 2, "epsv": 3, "port": 4}[mode])
        reply = ftp.storbinary(f"STOR tls folder/up-{mode}.bin", io.BytesIO(data))
        check(reply.startswith("226"), f"STOR over TLS ({mode}) -> 226", reply)
        check(retr(ftp, f"RETR tls folder/up-{mode}.bin") == data, f"RETR returns the upload ({mode})")
        check(retr(ftp, "RETR served.bin") == served, f"RETR of a served file ({mode})")
        names = ftp.nlst("tls folder")
        check(any(name.endswith(f"up-{mode}.bin") for name in names), f"NLST over TLS ({mode})", names)
        lines = []
        ftp.retrlines("LIST", lines.append)
        check(any(line.endswith(" served.bin") and "1000003" in line for line in lines),
              f"LIST over TLS ({mode})", lines)
        facts = dict(ftp.mlsd("tls folder", facts=["size"]))
        check(facts.get(f"up-{mode}.bin", {}).get("size") == str(len(data)),
              f"MLSD over TLS ({mode})", facts)
        if mode == "epsv":
            del ftp.makepasv
    lines = []
    ftp.storlines("STOR tls folder/lines.txt", io.BytesIO(b"one\ntwo\r\nthree\n"))
    ftp.retrlines("RETR tls folder/lines.txt", lines.append)
    check(lines == ["one", "two", "three"], "STOR and RETR in TYPE A over TLS", lines)
    check(ftp.quit().startswith("221"), "QUIT -> 221")


def section_truncated(host, port, cafile):
    """A TLS upload whose TCP connection ends without close_notify is refused and not kept."""
    ftp = secure(host, port, cafile)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("STOR cut.bin")
    conn.sendall(payload(500_000, 5))
    # close() without unwrap(): no close_notify, as when a client or the network dies mid-way.
    conn.close()
    try:
        reply = ftp.voidresp()
    except ftplib.all_errors as error:
        reply = str(error)
    check(reply[:1] in ("4", "5"), "a truncated upload is answered with an error", reply)
    check(ftp.voidcmd("NOOP").startswith("200"), "the session goes on")
    check("cut.bin" not in ftp.nlst(), "the cut upload is not listed")
    ftp.quit()


def section_required(host, port, cafile):
    """With require_tls: a clear login -> 530, clear data -> 521, PROT P works."""
    plain = ftplib.FTP(timeout=TIMEOUT)
    plain.connect(host, port)
    try:
        reply = plain.login()
    except ftplib.error_perm as error:
        reply = str(error)
    check(reply.startswith("530"), "clear-text login refused with 530", reply)
    plain.close()

    ftp = ftplib.FTP_TLS(context=context(cafile), timeout=TIMEOUT)
    ftp.connect(host, port)
    ftp.auth()
    check(ftp.login().startswith("230"), "login after AUTH TLS")
    for command in ("NLST", "RETR served.bin"):
        try:
            reply = ftp.retrbinary(command, lambda _: None)
        except ftplib.error_perm as error:
            reply = str(error)
        check(reply.startswith("521"), f"{command} without PROT P -> 521", reply)
    ftp.prot_p()
    check(retr(ftp, "RETR served.bin") == payload(1000, 6), "RETR after PROT P")
    ftp.quit()


def section_quit(host, port, cafile):
    """After QUIT's 221 the server ends TLS with close_notify, over TLS 1.3 and 1.2."""
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = context(cafile)
        ctx.maximum_version = version
        ftp = ftplib.FTP_TLS(context=ctx, timeout=TIMEOUT)
        ftp.connect(host, port)
        ftp.auth()
        ftp.login()
        check(ftp.sendcmd("QUIT").startswith("221"), f"QUIT -> 221 ({ftp.sock.version()})")
        try:
            ftp.sock.unwrap()
            ok, detail = True, ""
        except (ssl.SSLError, OSError) as error:
            ok, detail = False, repr(error)
        check(ok, f"close_notify after 221 ({version.name})", detail)
        ftp.close()


SECTIONS = {
    "transfers": section_transfers,
    "truncated": section_truncated,
    "required": section_required,
    "quit": section_quit,
}

if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in SECTIONS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(SECTIONS)} HOST PORT CAFILE")
    SECTIONS[sys.argv[1]](sys.argv[2], int(sys.argv[3]), sys.argv[4])
    print(f"section {sys.argv[1]}: all checks passed")
