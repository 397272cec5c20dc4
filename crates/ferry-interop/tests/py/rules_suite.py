#!/usr/bin/env python3
"""Python's ftplib against ferryd's account rules: rights per folder, read-only users, quotas.

Usage: rules_suite.py SECTION HOST PORT [local|s3]

Each section logs in as the user the Rust test (crates/ferry-interop/tests/rules.rs) set up,
prints what it checks and raises (exit status 1) on the first reply that is not the expected
one. The Rust side prepares the served tree and checks afterwards that refused operations
changed nothing and allowed ones did what they say.
"""

import ftplib
import io
import sys

TIMEOUT = 10

# The served storage: "local" (a folder) or "s3" (a bucket), from the command line.
BACKEND = "local"


def check(condition, what, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail!r}")
    print(f"ok: {what}")


def refused(code, what, function, *args):
    """Runs an ftplib call that must fail with reply `code`; returns the reply text."""
    try:
        reply = function(*args)
    except ftplib.all_errors as error:
        text = str(error)
        check(text.startswith(str(code)), f"{what} -> {code}", text)
        return text
    raise AssertionError(f"{what} should fail with {code}, got {reply!r}")


def login(host, port, user, password):
    ftp = ftplib.FTP(timeout=TIMEOUT)
    ftp.connect(host, port)
    ftp.login(user, password)
    return ftp


def store(ftp, path, data, command="STOR"):
    return ftp.storbinary(f"{command} {path}", io.BytesIO(data))


def fetch(ftp, path):
    out = io.BytesIO()
    ftp.retrbinary(f"RETR {path}", out.write)
    return out.getvalue()


def names(ftp, path):
    return sorted(name.rsplit("/", 1)[-1] for name in ftp.nlst(path))


def rights(host, port):
    """alice: everything at home; /pub list+download; /pub/drop upload only; /incoming list,
    upload, mkdir; /incoming/ok everything (the deepest rule wins); /moves list+rename."""
    ftp = login(host, port, "alice", "wonderland")
    # /pub: read, nothing else.
    check(names(ftp, "/pub") == ["drop", "readme.txt"], "list /pub (drop shows though unlistable)")
    check(fetch(ftp, "/pub/readme.txt") == b"read me\n", "download from /pub")
    text = refused(550, "STOR into /pub", store, ftp, "/pub/new.txt", b"x")
    check("no upload right in /pub" in text, "the refusal names the right and the folder", text)
    refused(550, "APPE to /pub/readme.txt", store, ftp, "/pub/readme.txt", b"x", "APPE")
    refused(550, "STOU in /pub", ftp.storbinary, "STOU /pub/unique", io.BytesIO(b"x"))
    refused(550, "DELE in /pub", ftp.delete, "/pub/readme.txt")
    refused(550, "MKD in /pub", ftp.mkd, "/pub/newdir")
    refused(550, "RMD in /pub", ftp.rmd, "/pub/drop")
    refused(550, "RNFR in /pub", ftp.sendcmd, "RNFR /pub/readme.txt")
    refused(550, "MFMT in /pub", ftp.sendcmd, "MFMT 20200101000000 /pub/readme.txt")
    # /pub/drop: upload a new file, but not list, download or replace it.
    store(ftp, "/pub/drop/dropped.bin", b"dropped")
    check(True, "STOR a new file into /pub/drop")
    text = refused(550, "LIST /pub/drop", ftp.nlst, "/pub/drop")
    check("no list right in /pub/drop" in text, "the list refusal says why", text)
    refused(550, "RETR from /pub/drop", fetch, ftp, "/pub/drop/dropped.bin")
    text = refused(550, "STOR over an existing file in /pub/drop", store, ftp,
                   "/pub/drop/dropped.bin", b"replaced")
    check("no overwrite right in /pub/drop" in text, "overwrite is a right of its own", text)
    # /incoming: new files and folders, no replace, delete or rename.
    store(ftp, "/incoming/up.txt", b"up")
    ftp.mkd("/incoming/sub")
    refused(550, "STOR over /incoming/up.txt", store, ftp, "/incoming/up.txt", b"again")
    refused(550, "APPE to /incoming/up.txt", store, ftp, "/incoming/up.txt", b"more", "APPE")
    refused(550, "DELE in /incoming", ftp.delete, "/incoming/up.txt")
    refused(550, "RMD in /incoming", ftp.rmd, "/incoming/sub")
    refused(550, "RNFR in /incoming", ftp.sendcmd, "RNFR /incoming/up.txt")
    # /incoming/ok: the deeper rule gives everything back.
    store(ftp, "/incoming/ok/a.txt", b"a")
    store(ftp, "/incoming/ok/a.txt", b"a2")
    store(ftp, "/incoming/ok/a.txt", b"+", "APPE")
    check(fetch(ftp, "/incoming/ok/a.txt") == b"a2+", "replace and append under the deeper rule")
    if BACKEND == "s3":
        # The right is there; S3 cannot set a time (the README's list of S3 differences).
        refused(554, "MFMT on S3", ftp.sendcmd, "MFMT 20200102030405 /incoming/ok/a.txt")
    else:
        ftp.sendcmd("MFMT 20200102030405 /incoming/ok/a.txt")
    ftp.rename("/incoming/ok/a.txt", "/incoming/ok/b.txt")
    ftp.delete("/incoming/ok/b.txt")
    # Rename across folders: the right is needed at both ends.
    text = refused(550, "RNTO from /moves into /pub", lambda: ftp.rename("/moves/m.txt", "/pub/m.txt"))
    check("no rename right in /pub" in text, "the target folder's rule refuses", text)
    refused(550, "RNTO from /moves into /incoming",
            lambda: ftp.rename("/moves/m.txt", "/incoming/m.txt"))
    ftp.rename("/moves/m.txt", "/moved.txt")
    check(fetch(ftp, "/moved.txt") == b"move me", "rename from /moves to home")
    ftp.quit()


def readonly(host, port):
    """reader: read_only, home at the root; every write verb is refused."""
    ftp = login(host, port, "reader", "bookworm")
    check(fetch(ftp, "/pub/readme.txt") == b"read me\n", "a read-only user downloads")
    for what, call in [
        ("STOR", lambda: store(ftp, "/new.txt", b"x")),
        ("STOR over a file", lambda: store(ftp, "/pub/readme.txt", b"x")),
        ("APPE", lambda: store(ftp, "/pub/readme.txt", b"x", "APPE")),
        ("STOU", lambda: ftp.storbinary("STOU", io.BytesIO(b"x"))),
        ("DELE", lambda: ftp.delete("/pub/readme.txt")),
        ("RMD", lambda: ftp.rmd("/pub")),
        ("MKD", lambda: ftp.mkd("/made")),
        ("RNFR", lambda: ftp.sendcmd("RNFR /pub/readme.txt")),
        ("MFMT", lambda: ftp.sendcmd("MFMT 20200101000000 /pub/readme.txt")),
    ]:
        refused(550, f"read-only {what}", call)
    # RNTO without an accepted RNFR is a sequencing error; SITE has no write command.
    refused(503, "read-only RNTO", ftp.sendcmd, "RNTO /renamed.txt")
    refused(502, "read-only SITE CHMOD", ftp.sendcmd, "SITE CHMOD 777 /pub/readme.txt")
    ftp.quit()


def quota(host, port):
    """quinn: quota_bytes 1000, quota_files 3; home holds old.bin (400 bytes)."""
    ftp = login(host, port, "quinn", "limits")
    reply = ftp.sendcmd("SITE QUOTA")
    check("bytes 400 / 1000" in reply and "files 1 / 3" in reply, "SITE QUOTA at login", reply)
    text = refused(552, "STOR of 700 bytes past quota_bytes", store, ftp, "big.bin", b"b" * 700)
    reply = ftp.sendcmd("SITE QUOTA")
    check("bytes 400 / 1000" in reply, "usage unchanged after the refusal", reply)
    store(ftp, "fits.bin", b"f" * 600)
    reply = ftp.sendcmd("SITE QUOTA")
    check("bytes 1000 / 1000" in reply and "files 2 / 3" in reply, "exactly at the limit", reply)
    refused(552, "one byte more", store, ftp, "one.bin", b"1")
    ftp.delete("fits.bin")
    reply = ftp.sendcmd("SITE QUOTA")
    check("bytes 400 / 1000" in reply and "files 1 / 3" in reply, "deleting frees", reply)
    store(ftp, "c.bin", b"c" * 10)
    store(ftp, "d.bin", b"d" * 10)
    text = refused(552, "a fourth file past quota_files", store, ftp, "e.bin", b"e")
    check("3 files allowed" in text, "the refusal names the file limit", text)
    # Replacing old.bin (400) with 1000 bytes would make 1020: refused, old.bin stays whole.
    refused(552, "a replacement past the limit", store, ftp, "old.bin", b"n" * 1000)
    status = ftp.sendcmd("STAT")
    check("Quota: bytes 420 / 1000, files 3 / 3" in status, "STAT shows the quota", status)
    ftp.quit()


def not_utf8(host, port):
    """The served folder holds bad\\xff\\xfename (bytes that are not UTF-8) and good.txt."""
    ftp = login(host, port, "anonymous", "guest@")
    lines = []
    ftp.retrlines("LIST", lines.append)
    check(any(line.endswith(" bad\ufffd\ufffdname") for line in lines), "LIST shows U+FFFD", lines)
    check(names(ftp, "") == ["bad\ufffd\ufffdname", "good.txt"], "NLST decodes as UTF-8")
    facts = []
    ftp.retrlines("MLSD", facts.append)
    check(len(facts) == 2, "MLSD decodes as UTF-8", facts)
    check(fetch(ftp, "bad\ufffd\ufffdname") == b"odd bytes", "the name as listed reaches the file")
    ftp.rename("bad\ufffd\ufffdname", "renamed.txt")
    check(names(ftp, "") == ["good.txt", "renamed.txt"], "renamed to a UTF-8 name")
    ftp.quit()


SECTIONS = {"rights": rights, "readonly": readonly, "quota": quota, "not_utf8": not_utf8}

if __name__ == "__main__":
    section, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    BACKEND = sys.argv[4] if len(sys.argv) > 4 else "local"
    SECTIONS[section](host, port)
    print(f"section {section}: all checks passed")
