#!/usr/bin/env python3
"""Side-by-side FTP server benchmark: ferryd against vsftpd, Pure-FTPd and pyftpdlib.

Started by bench/run, which installs the peers and builds ferryd first. Every server runs on its
own loopback port, logs in the same named user (`ferrybench`, with a password) and serves its own
folder under /dev/shm. Each workload runs on every server in turn (the order rotates each round),
for several rounds; the table shows medians and ferryd/peer ratios.

Every loop is bounded (counts, timeouts and an overall deadline) and every server started here is
killed on exit, whatever happens.
"""

from __future__ import annotations

import argparse
import base64
import asyncio
import atexit
import fcntl
import ftplib
import io
import json
import multiprocessing
import os
import platform
import pwd
import re
import resource
import secrets
import socket
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HOST = "127.0.0.1"
USER = "ferrybench"  # the same name and password on every server
PASSWORD = "bench-Pw-7"
SYSTEM_USER = USER  # the local account behind vsftpd (PAM) and Pure-FTPd (virtual user)
SHM = Path("/dev/shm/ferry-bench")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


_next_port = 0


# Every session of the benchmark comes from one address: the per-IP cap is raised to match the
# peers' (vsftpd max_per_ip=20000), as its documentation tells a site with a proxy in front.
FERRYD_LIMITS = ["--max-sessions-per-ip", "20000"]

def fresh_port(base: int) -> int:
    """A port no earlier trial used: a server's own TIME_WAIT sockets would stop a restart on the
    same port (Pure-FTPd binds without SO_REUSEADDR)."""
    global _next_port
    _next_port += 1
    return base + _next_port


@dataclass
class Server:
    name: str
    root: Path  # the folder it serves (the user's home)
    command: Callable[[int], list[str]]  # argv for a given port
    base_port: int = 21000
    port: int = 0
    tls: bool = False  # an FTPS variant: only the ftps rows run on it
    ssh: bool = False  # an SFTP server (SshServer): only the sftp rows run on it
    http: bool = False  # an HTTP server (HttpServer): only the http rows run on it
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log: Path | None = None
    base_procs: int = 1  # processes when no session is open
    # With --pin, SFTP servers start on this CPU (see PINNED_WORKLOADS); None: anywhere.
    start_cpu: int | None = None

    def start(self, workdir: Path) -> None:
        self.log = workdir / f"{self.name}.log"
        self.port = fresh_port(self.base_port)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(self.port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: we kill exactly that group
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                client = (ftplib.FTP_TLS(context=ssl._create_unverified_context())
                          if self.tls else ftplib.FTP())
                with client as ftp:
                    ftp.connect(HOST, self.port, timeout=5)
                    ftp.login(USER, PASSWORD)
                    ftp.quit()
                time.sleep(0.3)
                self.base_procs = len(self.pids())
                return
            except (OSError, ftplib.Error):
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not accept a login on port {self.port} within 30 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # Fork-per-session servers leave children in the group: make sure nothing stays.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def pids(self) -> list[int]:
        """The server process and all its descendants (forked sessions)."""
        if self.proc is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def pss_kib(self) -> tuple[int, int]:
        """Summed PSS (KiB) of the server's processes, and how many there are."""
        total, count = 0, 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
                            count += 1
                            break
            except OSError:
                continue
        return total, count


def prepare_user() -> tuple[int, int]:
    """Creates (once) the local account that vsftpd and Pure-FTPd log in as; sets its password."""
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", str(SHM / "vsftpd"),
             "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    subprocess.run(["chpasswd"], input=f"{SYSTEM_USER}:{PASSWORD}\n", text=True, check=True)
    return entry.pw_uid, entry.pw_gid


def make_servers(args, workdir: Path, uid: int, gid: int) -> list[Server]:
    peers = Path(args.peers_root)
    servers: list[Server] = []
    base = args.base_port

    def folder(name: str) -> Path:
        path = SHM / name
        path.mkdir(parents=True, exist_ok=True)
        for f in ("big.bin", "small.bin"):
            target = path / f
            if not target.exists():
                os.link(SHM / "src" / f, target)  # one copy in memory, the same pages for all
        os.chown(path, uid, gid)
        return path

    # ferryd's users file: an Argon2id hash made by `ferryd user add` (m=19456, t=2, p=1).
    users = workdir / "ferryd-users.toml"
    users.unlink(missing_ok=True)
    subprocess.run(
        [args.ferryd, "user", "add", USER, "--users", str(users), "--password-stdin"],
        input=PASSWORD + "\n", text=True, check=True, stdout=subprocess.DEVNULL,
    )
    argon2_hash = re.search(r'password = "([^"]+)"', users.read_text()).group(1)
    if "ferryd" in args.servers:
        root = folder("ferryd")
        servers.append(Server(
            "ferryd", root,
            lambda port, root=root: [args.ferryd, str(root), "--bind", f"{HOST}:{port}",
                                     "--users", str(users), *FERRYD_LIMITS],
            base, env=dict(kv.split("=", 1) for kv in args.ferryd_env),
        ))

    if "vsftpd" in args.servers:
        root = folder("vsftpd")
        empty = workdir / "vsftpd-empty"
        empty.mkdir(exist_ok=True)
        os.chmod(empty, 0o555)
        pam = Path("/etc/pam.d/ferrybench-vsftpd")
        pam.write_text("auth required pam_unix.so\naccount required pam_unix.so\n")

        def vsftpd(port: int, root=root, empty=empty) -> list[str]:
            conf = workdir / "vsftpd.conf"
            conf.write_text("\n".join([
                "listen=YES", "listen_ipv6=NO", f"listen_address={HOST}", f"listen_port={port}",
                "background=NO", "seccomp_sandbox=NO", "anonymous_enable=NO", "local_enable=YES",
                "write_enable=YES", "local_umask=022", f"local_root={root}", "check_shell=NO",
                "pam_service_name=ferrybench-vsftpd", f"secure_chroot_dir={empty}",
                "max_clients=20000", "max_per_ip=20000", "xferlog_enable=NO",
                "dirmessage_enable=NO", "connect_from_port_20=NO", "idle_session_timeout=900",
                "use_sendfile=YES", "userlist_enable=NO", "tcp_wrappers=NO", "",
            ]))
            return [str(peers / "usr/sbin/vsftpd"), str(conf)]

        servers.append(Server("vsftpd", root, vsftpd, base))

    if "pure-ftpd" in args.servers:
        root = folder("pure-ftpd")
        passwd = workdir / "pureftpd.passwd"
        pdb = workdir / "pureftpd.pdb"
        # pure-pw would hash with Argon2id at t=1023 (seconds per login); give Pure-FTPd the very
        # hash string ferryd checks instead, so both pay the same for a login.
        passwd.write_text(f"{USER}:{argon2_hash}:{uid}:{gid}::{root}/./::::::::::::\n")
        pdb.unlink(missing_ok=True)
        subprocess.run(
            [str(peers / "usr/bin/pure-pw"), "mkdb", str(pdb), "-f", str(passwd)],
            check=True, stdout=subprocess.DEVNULL,
        )
        servers.append(Server("pure-ftpd", root, lambda port: [
            str(peers / "usr/sbin/pure-ftpd"), "-S", f"{HOST},{port}", "-l", f"puredb:{pdb}",
            "-E", "-H", "-c", "20000", "-C", "20000", "-u", "100", "-I", "15",
        ], base))

    if "pyftpdlib" in args.servers:
        root = folder("pyftpdlib")
        servers.append(Server("pyftpdlib", root, lambda port, root=root: [
            sys.executable, str(HERE / "pyftpd.py"), str(port), USER, PASSWORD, str(root),
        ], base))
    if "ftps" in args.workloads_list:
        cert, key = workdir / "cert.pem", workdir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        for base_server in list(servers):
            if base_server.name == "ferryd":
                servers.append(Server(
                    "ferryd", base_server.root,
                    lambda port, root=base_server.root: [
                        args.ferryd, str(root), "--bind", f"{HOST}:{port}", "--users", str(users),
                        "--tls-cert", str(cert), "--tls-key", str(key), *FERRYD_LIMITS],
                    base, env=base_server.env, tls=True,
                ))
            if base_server.name == "vsftpd":
                plain = base_server.command

                def vsftpd_tls(port: int, plain=plain) -> list[str]:
                    argv = plain(port)
                    conf = Path(argv[1])
                    tls_conf = conf.with_name("vsftpd-tls.conf")
                    # vsftpd's defaults otherwise: require_ssl_reuse=YES, TLS forced for
                    # logins and data.
                    tls_conf.write_text(conf.read_text() + "\n".join([
                        "ssl_enable=YES", f"rsa_cert_file={cert}", f"rsa_private_key_file={key}",
                        "ssl_ciphers=HIGH", "force_local_logins_ssl=YES",
                        "force_local_data_ssl=YES", "require_ssl_reuse=YES", ""]))
                    return [argv[0], str(tls_conf)]

                servers.append(Server("vsftpd", base_server.root, vsftpd_tls, base, tls=True))
            if base_server.name == "pure-ftpd":
                # -Y 3: TLS required on the control and the data connections (as vsftpd's
                # force_local_*_ssl); -2: the same certificate and key.
                servers.append(Server(
                    "pure-ftpd", base_server.root,
                    lambda port, plain=base_server.command: plain(port) + [
                        "-Y", "3", "-2", f"{cert},{key}"],
                    base, tls=True,
                ))
            if base_server.name == "pyftpdlib":
                # TLS_FTPHandler (pyOpenSSL) with the same certificate and key; pyftpd.py then
                # requires TLS on the control and the data connections, like the other two.
                servers.append(Server(
                    "pyftpdlib", base_server.root,
                    lambda port, plain=base_server.command: plain(port) + [str(cert), str(key)],
                    base, tls=True,
                ))
    return servers


# --------------------------------------------------------------------------------------------
# A minimal asyncio FTP client for the concurrent and idle rows
# --------------------------------------------------------------------------------------------


class FtpError(Exception):
    pass


MIN_AVAILABLE_GIB = 4.0  # a trial is cut short when the machine has less memory available


def mem_available_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("inf")


MAX_SERVER_GIB = 8.0  # ... or when the server's main process holds more than this (--max-server-gib)


def rss_gib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except OSError:
        return 0.0


async def guarded_wait(tasks: list, limit: float, pid: int) -> str | None:
    """Waits for `tasks` at most `limit` seconds, and cancels them all if the machine runs low on
    memory or the server process `pid` grows past MAX_SERVER_GIB (a server that keeps memory per
    login must not take the shared machine down). Returns why it stopped early, or None."""
    deadline = time.monotonic() + limit
    reason = None
    pending = set(tasks)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            reason = f"stopped after {limit:.0f} s"
            break
        if mem_available_gib() < MIN_AVAILABLE_GIB:
            reason = f"stopped: machine memory available fell below {MIN_AVAILABLE_GIB} GiB"
            break
        if rss_gib(pid) > MAX_SERVER_GIB:
            reason = f"stopped: server RSS passed {MAX_SERVER_GIB} GiB"
            break
        _, pending = await asyncio.wait(pending, timeout=min(0.5, left))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return reason


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    line = await reader.readline()
    if len(line) < 4:
        raise FtpError(f"short reply {line!r}")
    code, text = line[:3], line
    if line[3:4] == b"-":  # multi-line reply: until "code "
        for _ in range(1000):
            more = await reader.readline()
            if not more:
                raise FtpError("connection closed in a multi-line reply")
            text += more
            if more[:3] == code and more[3:4] == b" ":
                break
    return int(code), text.decode("latin-1")


async def command(reader, writer, line: str, expect: tuple[int, ...]) -> str:
    writer.write(line.encode() + b"\r\n")
    await writer.drain()
    code, text = await read_reply(reader)
    if code not in expect:
        raise FtpError(f"{line.split()[0]}: {text.strip()}")
    return text


async def login(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 16)
    try:
        code, text = await read_reply(reader)
        if code != 220:
            raise FtpError(f"greeting: {text.strip()}")
        await command(reader, writer, f"USER {USER}", (331, 230))
        await command(reader, writer, f"PASS {PASSWORD}", (230,))
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def data_command(reader, writer, host: str, line: str) -> int:
    """EPSV, connect, send `line`, read the data to its end and the final reply; returns bytes."""
    text = await command(reader, writer, "EPSV", (229,))
    port = int(text[text.index("(|||") + 4 : text.rindex("|)")])
    dreader, dwriter = await asyncio.open_connection(host, port, limit=1 << 16)
    try:
        await command(reader, writer, line, (125, 150))
        received = 0
        while chunk := await dreader.read(65536):
            received += len(chunk)
    finally:
        dwriter.close()
    code, text = await read_reply(reader)
    if code != 226:
        raise FtpError(f"{line}: {text.strip()}")
    return received


async def one_session(host: str, port: int) -> float:
    start = time.perf_counter()
    reader, writer = await login(host, port)
    try:
        await command(reader, writer, "TYPE I", (200,))
        await data_command(reader, writer, host, "LIST")
        got = await data_command(reader, writer, host, "RETR small.bin")
        if got != 4096:
            raise FtpError(f"RETR small.bin gave {got} bytes")
        await command(reader, writer, "QUIT", (221,))
    finally:
        writer.close()
    return time.perf_counter() - start


async def session_share(port: int, pid: int, clients: int, timeout: float) -> dict:
    """One client process's share of a concurrent-sessions trial: `clients` sessions at once."""
    async def guarded() -> float | None:
        try:
            return await asyncio.wait_for(one_session(HOST, port), timeout)
        except (OSError, FtpError, asyncio.TimeoutError, EOFError, ValueError):
            return None

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(guarded()) for _ in range(clients)]
    stopped = await guarded_wait(tasks, timeout + 10, pid)
    end = time.perf_counter()
    ok = [t.result() for t in tasks if not t.cancelled() and t.result() is not None]
    return {"start": start, "end": end, "ok": ok, "note": stopped}


def share_in_child(port: int, pid: int, clients: int, timeout: float, go, out) -> None:
    """A forked client process: waits for the common start, runs its share, sends the result."""
    go.wait(30)
    try:
        out.send(asyncio.run(session_share(port, pid, clients, timeout)))
    finally:
        out.close()


def concurrent_sessions(server: Server, clients: int, timeout: float) -> dict:
    """`clients` sessions started at once, split over one client process per CPU: one asyncio
    process tops out near 2,100 sessions/s here (about 450 µs of its own CPU per session) and
    then measures itself, not the server. Rate = sessions done / (last end - first start);
    perf_counter is CLOCK_MONOTONIC, the same clock in every process."""
    context = multiprocessing.get_context("fork")
    procs = max(1, min(os.cpu_count() or 1, clients))
    go = context.Event()
    children, pipes = [], []
    for i in range(procs):
        share = clients // procs + (1 if i < clients % procs else 0)
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=share_in_child,
                                args=(server.port, server.proc.pid, share, timeout, go, send))
        child.start()
        send.close()
        children.append(child)
        pipes.append(receive)
    go.set()
    results, notes = [], []
    for child, receive in zip(children, pipes):
        if receive.poll(timeout + 30):
            try:
                results.append(receive.recv())
            except EOFError:
                notes.append("a client process ended without a result")
        else:
            notes.append("a client process gave no result in time")
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()
    ok = sorted(d for r in results for d in r["ok"])
    if results:
        wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    else:
        wall = float("inf")
    notes += [r["note"] for r in results if r["note"]]
    p99 = ok[min(len(ok) - 1, int(len(ok) * 0.99))] if ok else float("nan")
    result = {"sessions_per_s": len(ok) / wall, "p99_ms": p99 * 1000, "failures": clients - len(ok)}
    if notes:
        result["note"] = "; ".join(notes)
    return result


async def idle_sessions(server: Server, count: int, window: int, timeout: float,
                        limit: float) -> dict:
    before, _ = server.pss_kib()
    held: list[asyncio.StreamWriter] = []
    failures = 0
    gate = asyncio.Semaphore(window)

    async def one() -> None:
        nonlocal failures
        async with gate:
            try:
                _, writer = await asyncio.wait_for(login(HOST, server.port), timeout)
                held.append(writer)
            except (OSError, FtpError, asyncio.TimeoutError, EOFError, ValueError):
                failures += 1

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    try:
        # Bounded as a whole: logins not done by then count as failures.
        stopped = await guarded_wait(tasks, limit, server.proc.pid)
        failures = count - len(held)
        login_s = time.perf_counter() - start
        await asyncio.sleep(1.0)  # let forked sessions settle
        after, procs = server.pss_kib()
    finally:
        for writer in held:
            writer.close()
    per_session = (after - before) / max(1, len(held))
    result = {"login_all_s": login_s, "pss_kib_per_session": per_session,
              "idle_failures": failures, "processes": procs, "server_pss_MiB": after / 1024}
    if stopped:
        result["note"] = stopped
    return result


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


def run_curl(argv: list[str], timeout: float) -> tuple[float, float]:
    """Runs curl with a -w of size and times; returns (bytes, seconds of transfer proper)."""
    out = subprocess.run(
        ["curl", "-sS", "--fail", "--max-time", str(int(timeout)), "-w",
         "%{size_download} %{size_upload} %{time_pretransfer} %{time_total}", *argv],
        capture_output=True, text=True, timeout=timeout + 10,
    )
    if out.returncode != 0:
        raise RuntimeError(f"curl failed ({out.returncode}): {out.stderr.strip()}")
    down, up, pre, total = out.stdout.split()
    return max(float(down), float(up)), float(total) - float(pre)


def w_download(server: Server, args, tls: bool = False) -> dict:
    size, secs = run_curl(
        (["--ssl-reqd", "-k"] if tls else [])
        + ["-o", "/dev/null", f"ftp://{USER}:{PASSWORD}@{HOST}:{server.port}/big.bin"],
        args.timeout,
    )
    if size != args.big_bytes:
        raise RuntimeError(f"downloaded {size} of {args.big_bytes} bytes")
    return {f"{'ftps_' if tls else ''}download_MBps": size / secs / 1e6}


def w_upload(server: Server, args, tls: bool = False) -> dict:
    for leftover in server.root.glob("*up.bin*"):
        leftover.unlink()
    size, secs = run_curl(
        (["--ssl-reqd", "-k"] if tls else [])
        + ["-T", str(SHM / "src" / "big.bin"),
           f"ftp://{USER}:{PASSWORD}@{HOST}:{server.port}/up.bin"],
        args.timeout,
    )
    stored = (server.root / "up.bin").stat().st_size
    (server.root / "up.bin").unlink()
    if stored != args.big_bytes:
        raise RuntimeError(f"stored {stored} of {args.big_bytes} bytes")
    return {f"{'ftps_' if tls else ''}upload_MBps": size / secs / 1e6}


class ReusingFtpTls(ftplib.FTP_TLS):
    """ftplib's FTP_TLS, but data connections resume the control connection's TLS session (as
    curl, lftp and FileZilla do): vsftpd's require_ssl_reuse refuses them otherwise."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


def w_small_files(server: Server, args, tls: bool = False) -> dict:
    folder = server.root / "many"
    if folder.exists():
        shutil.rmtree(folder)
    payload = os.urandom(4096)
    got = bytearray()
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the run's own self-signed certificate
        client = ReusingFtpTls(context=context)
    else:
        client = ftplib.FTP()
    with client as ftp:
        ftp.connect(HOST, server.port, timeout=args.timeout)
        ftp.login(USER, PASSWORD)
        if tls:
            ftp.prot_p()
        ftp.voidcmd("TYPE I")
        ftp.mkd("many")
        ftp.cwd("many")
        start = time.perf_counter()
        for i in range(args.files):
            ftp.storbinary(f"STOR f{i:05}", io.BytesIO(payload))
        up = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(args.files):
            got.clear()
            ftp.retrbinary(f"RETR f{i:05}", got.extend)
            if got != payload:
                raise RuntimeError(f"f{i:05} came back different")
        down = time.perf_counter() - start
        ftp.quit()
    shutil.rmtree(folder)
    prefix = "ftps_" if tls else ""
    return {f"{prefix}small_up_files_per_s": args.files / up,
            f"{prefix}small_down_files_per_s": args.files / down}


def w_ftps_small_files(server: Server, args) -> dict:
    return w_small_files(server, args, tls=True)


def w_concurrent(n: int):
    def run(server: Server, args) -> dict:
        result = concurrent_sessions(server, n, args.timeout)
        return {k if k == "note" else f"c{n}_{k}": v for k, v in result.items()}

    return run


def w_idle(server: Server, args) -> dict:
    result = asyncio.run(
        idle_sessions(server, args.idle, args.idle_window, args.timeout, args.idle_max_seconds)
    )
    return result


def w_ftps_download(server: Server, args) -> dict:
    return w_download(server, args, tls=True)


def w_ftps_upload(server: Server, args) -> dict:
    return w_upload(server, args, tls=True)


def abba(run, first: list[str], second: list[str]) -> tuple[float, float]:
    """Times `first` and `second` in the order first, second, second, first; each the mean of
    its two runs, so that neither always goes first and a drift weighs the same on both."""
    a = run(first)
    b = run(second)
    b = (b + run(second)) / 2
    return (a + run(first)) / 2, b


def timed(argv: list[str], timeout: float) -> float:
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({out.returncode}): {out.stderr.strip()[-300:]}")
    return time.perf_counter() - start


def w_client(server: Server, args) -> dict:
    """`ferry get` vs curl on the big file; `ferry mirror --parallel 4` vs lftp's on the small
    files; both clients against this same server, wall-clock time of the whole command."""
    url = f"ftp://{USER}:{PASSWORD}@{HOST}:{server.port}"
    tree = server.root / "tree"
    if not tree.exists():
        tree.mkdir()
        payload = os.urandom(4096)
        for i in range(args.files):
            (tree / f"f{i:05}").write_bytes(payload)
        shutil.chown(tree, USER, USER)
    out = SHM / "client-out"
    shutil.rmtree(out, ignore_errors=True)
    # ABBA order (ferry, curl, curl, ferry), each client's time the mean of its two runs: the
    # first download from a freshly started server and any drift over the trial weigh the same
    # on both clients.
    ferry_cmd = [args.ferry, "get", f"{url}/big.bin", "-o", "/dev/null"]
    curl_cmd = ["curl", "-sS", "--fail", "-o", "/dev/null", f"{url}/big.bin"]
    # One login first, so that no timed command pays for the Argon2id check (later logins hit
    # ferryd's credential cache; without this the first client in the order paid for all).
    timed(["curl", "-sS", "--fail", "-o", "/dev/null", "--list-only", f"{url}/"], args.timeout)
    ferry_get, curl_get = abba(lambda argv: timed(argv, args.timeout), ferry_cmd, curl_cmd)
    # The same into a file in /dev/shm, as a user's download lands (the copy into the page cache
    # counts), ABBA again; the file is removed before each run.
    out.mkdir(parents=True, exist_ok=True)
    landed = out / "get.bin"

    def into_file(argv: list[str]) -> float:
        landed.unlink(missing_ok=True)
        took = timed(argv, args.timeout)
        if landed.stat().st_size != args.big_bytes:
            raise RuntimeError(f"{argv[0]} stored {landed.stat().st_size} of {args.big_bytes} bytes")
        return took

    ferry_file_cmd = [args.ferry, "get", f"{url}/big.bin", "-o", str(landed)]
    curl_file_cmd = ["curl", "-sS", "--fail", "-o", str(landed), f"{url}/big.bin"]
    ferry_file, curl_file = abba(into_file, ferry_file_cmd, curl_file_cmd)
    landed.unlink(missing_ok=True)
    ferry_mirror = timed([args.ferry, "mirror", f"{url}/tree/", str(out / "ferry"),
                          "--parallel", "4"], args.timeout)
    lftp_mirror = timed(["lftp", "-u", f"{USER},{PASSWORD}", "-p", str(server.port), HOST, "-e",
                         f"set ftp:ssl-allow false; mirror --parallel=4 tree {out / 'lftp'}; bye"],
                        args.timeout)
    for name in ("ferry", "lftp"):
        got = len(list((out / name).iterdir()))
        if got != args.files:
            raise RuntimeError(f"{name} mirror brought {got} of {args.files} files")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    # Issue 20: one file over four connections, `ferry get --segments 4` against `lftp pget -n
    # 4`, into a file in /dev/shm, ABBA.
    pget_ferry = [args.ferry, "-q", "get", f"{url}/big.bin", "--segments", "4", "-o", str(landed)]
    pget_lftp = ["lftp", "-u", f"{USER},{PASSWORD}", "-p", str(server.port), HOST, "-e",
                 f"set ftp:ssl-allow false; set xfer:clobber on; pget -n 4 big.bin -o {landed}; bye"]
    ferry_pget, lftp_pget = abba(into_file, pget_ferry, pget_lftp)
    landed.unlink(missing_ok=True)
    # One connection mirrors of the small files: ferry, ferry --verify, lftp; each into a fresh
    # folder. --verify asks ferryd's HASH of every file after it arrived (pipelined, 32 files a
    # batch, the local digests on a thread meanwhile).
    def mirror(argv: list[str], into: Path) -> float:
        shutil.rmtree(into, ignore_errors=True)
        took = timed(argv, args.timeout)
        got = len(list(into.iterdir()))
        if got != args.files:
            raise RuntimeError(f"{argv[0]} mirror brought {got} of {args.files} files")
        return took

    plain = out / "plain"
    plain_cmd = [args.ferry, "-q", "mirror", f"{url}/tree/", str(plain)]
    verify_cmd = [args.ferry, "-q", "--verify", "mirror", f"{url}/tree/", str(plain)]
    lftp_cmd = ["lftp", "-u", f"{USER},{PASSWORD}", "-p", str(server.port), HOST, "-e",
                f"set ftp:ssl-allow false; mirror tree {plain}; bye"]
    # ABBA twice: ferry against ferry --verify (the cost of verifying), then ferry against
    # lftp; whichever goes first after the segmented get no longer decides the ratio.
    ferry_mirror1, ferry_verify1 = abba(lambda argv: mirror(argv, plain), plain_cmd, verify_cmd)
    ferry_again, lftp_mirror1 = abba(lambda argv: mirror(argv, plain), plain_cmd, lftp_cmd)
    ferry_mirror1 = (ferry_mirror1 + ferry_again) / 2
    shutil.rmtree(out, ignore_errors=True)
    return {"client_pget_ferry_MBps": args.big_bytes / ferry_pget / 1e6,
            "client_pget_lftp_MBps": args.big_bytes / lftp_pget / 1e6,
            "client_mirror1_ferry_files_per_s": args.files / ferry_mirror1,
            "client_mirror1_verify_files_per_s": args.files / ferry_verify1,
            "client_mirror1_lftp_files_per_s": args.files / lftp_mirror1,
            "client_get_ferry_MBps": args.big_bytes / ferry_get / 1e6,
            "client_get_curl_MBps": args.big_bytes / curl_get / 1e6,
            "client_get_file_ferry_MBps": args.big_bytes / ferry_file / 1e6,
            "client_get_file_curl_MBps": args.big_bytes / curl_file / 1e6,
            "client_mirror_ferry_files_per_s": args.files / ferry_mirror,
            "client_mirror_lftp_files_per_s": args.files / lftp_mirror}


# --------------------------------------------------------------------------------------------
# S3 upload memory (issue 6): ferryd in front of a real S3 server on loopback
# --------------------------------------------------------------------------------------------

S3_BUCKET = "ferry-bench"
S3_REGION = "us-east-1"
S3S_FS_VERSION = "0.14.1"


def s3_binary(name: str) -> str:
    """s3s-fs or weed: `$FERRY_S3S_FS` / `$FERRY_WEED`, PATH, then where bench/run installs them."""
    env, fallback = {
        "s3s-fs": ("FERRY_S3S_FS", Path.home() / ".cargo/bin/s3s-fs"),
        "weed": ("FERRY_WEED", Path.home() / ".local/share/ferry-seaweedfs/bin/weed"),
    }[name]
    found = os.environ.get(env) or shutil.which(name) or (str(fallback) if fallback.exists() else None)
    if not found:
        raise RuntimeError(f"{name} is not installed (bench/run installs it)")
    return found


def wait_port(port: int, proc: subprocess.Popen, log: Path, what: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer on port {port} within {limit:.0f} s")


class S3Process:
    """A real S3 server on 127.0.0.1 (s3s-fs or SeaweedFS `weed mini`), with one bucket and a
    key pair made up for this trial; its data lives in /dev/shm and goes when it stops."""

    def __init__(self, kind: str, workdir: Path, base_port: int):
        self.kind = kind
        self.key = "bench" + secrets.token_hex(8)
        self.secret = secrets.token_hex(20)
        self.dir = SHM / f"s3-{kind}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.log = workdir / f"{kind}.log"
        self.port = fresh_port(base_port)
        if kind == "s3s-fs":
            (self.dir / S3_BUCKET).mkdir()
            argv = [s3_binary("s3s-fs"), "--host", HOST, "--port", str(self.port),
                    "--access-key", self.key, "--secret-key", self.secret, str(self.dir)]
        elif kind == "seaweedfs":
            config = workdir / "weed-s3.json"
            config.write_text(json.dumps({"identities": [{
                "name": "bench", "credentials": [{"accessKey": self.key, "secretKey": self.secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
            os.chmod(config, 0o600)
            flags = ["s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "master.port",
                     "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
                     "filer.port.grpc", "admin.port", "admin.port.grpc"]
            argv = [s3_binary("weed"), "mini", f"-dir={self.dir}", f"-ip={HOST}",
                    f"-ip.bind={HOST}", f"-s3.port={self.port}",
                    *[f"-{flag}={fresh_port(base_port)}" for flag in flags],
                    "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
                    f"-bucket={S3_BUCKET}", f"-s3.config={config}"]
        else:
            raise RuntimeError(f"unknown --s3-server {kind}")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.dir,
                                         start_new_session=True)
        wait_port(self.port, self.proc, self.log, kind)
        if kind == "seaweedfs":  # the S3 port opens before the bucket is there
            deadline = time.monotonic() + 60
            while self.object_size("") is None and time.monotonic() < deadline:
                time.sleep(0.3)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def signed(self, method: str, key: str) -> subprocess.CompletedProcess:
        """One SigV4-signed request straight to the S3 server (curl --aws-sigv4), not via ferryd."""
        verb = ["--head"] if method == "HEAD" else ["-X", method]
        return subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", *verb, "-w", "%{http_code} %header{content-length}",
             "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--aws-sigv4", f"aws:amz:{S3_REGION}:s3", "--user", f"{self.key}:{self.secret}",
             f"{self.endpoint}/{S3_BUCKET}/{key}"],
            capture_output=True, text=True, timeout=60,
        )

    def object_size(self, key: str) -> int | None:
        """The object's Content-Length by a HEAD on the S3 server, or None if it is not there
        (an empty key: the bucket, for readiness)."""
        out = self.signed("HEAD", key)
        fields = out.stdout.split()
        if out.returncode != 0 or not fields or fields[0] != "200":
            return None
        return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        shutil.rmtree(self.dir, ignore_errors=True)


def proc_status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def w_s3(server: Server, args) -> dict:
    """A ferryd of its own in front of a real S3 server: idle RSS after start-up, then the big
    file uploaded with `curl -T` while ferryd's memory is watched two ways: VmHWM (the kernel's
    peak RSS, reset to the current RSS just before the upload with `echo 5 > clear_refs`) and
    VmRSS sampled every 10 ms. Peak minus idle is what the upload cost in memory."""
    s3 = S3Process(args.s3_server, args.workdir, args.base_port)
    ferryd = Server(
        "ferryd-s3", server.root,
        lambda port: [args.ferryd, "--storage", f"s3://{S3_BUCKET}", "--s3-endpoint", s3.endpoint,
                      "--s3-region", S3_REGION, "--bind", f"{HOST}:{port}",
                      "--users", str(args.workdir / "ferryd-users.toml"), *FERRYD_LIMITS],
        args.base_port,
        env={**server.env, "AWS_ACCESS_KEY_ID": s3.key, "AWS_SECRET_ACCESS_KEY": s3.secret},
    )
    try:
        ferryd.start(args.workdir)  # waits for a login to work
        pid = ferryd.proc.pid
        time.sleep(1.0)
        idle = proc_status_kib(pid, "VmRSS")
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS now
        peak_sampled = idle
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_sampled
            while not stop.is_set():
                try:
                    peak_sampled = max(peak_sampled, proc_status_kib(pid, "VmRSS"))
                except (OSError, RuntimeError):
                    return
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            size, secs = run_curl(
                ["-T", str(SHM / "src" / "big.bin"),
                 f"ftp://{USER}:{PASSWORD}@{HOST}:{ferryd.port}/up.bin"], args.timeout)
        finally:
            stop.set()
            sampler.join(timeout=5)
        hwm = proc_status_kib(pid, "VmHWM")
        stored = s3.object_size("up.bin")
        if stored != args.big_bytes:
            raise RuntimeError(f"the S3 server holds {stored} of {args.big_bytes} bytes")
        s3.signed("DELETE", "up.bin")
        return {"s3_upload_MBps": size / secs / 1e6,
                "s3_peak_over_idle_MiB": (hwm - idle) / 1024,
                "s3_sampled_over_idle_MiB": (peak_sampled - idle) / 1024,
                "s3_idle_MiB": idle / 1024}
    finally:
        ferryd.stop()
        s3.stop()


# --------------------------------------------------------------------------------------------
# SFTP (issue 17): ferryd's SFTP against OpenSSH's sshd, both driven by OpenSSH's `sftp -b`
# --------------------------------------------------------------------------------------------

SSHD = "/usr/sbin/sshd"
SSHD_USER = "root"  # sshd logs in a system account: root, with the run's key (PermitRootLogin)


@dataclass
class SshKeys:
    """The run's keys, made once with ssh-keygen: one client key for both servers, and a host
    key for each."""
    client: Path
    ferryd_host: Path
    sshd_host: Path
    big_sha256: str  # of SHM/src/big.bin, to check what crossed


def ssh_keygen(path: Path) -> Path:
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ferry-bench",
                    "-f", str(path)], check=True, capture_output=True)
    return path


def sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def client_env(home: Path | None = None) -> dict[str, str]:
    """No ssh-agent: both clients log in with the run's key file only."""
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    if home is not None:
        env["HOME"] = str(home)
    return env


@dataclass
class SshServer(Server):
    """An SFTP server: ferryd with --sftp-bind (and an FTP bind for the idle FTP row), or
    OpenSSH's sshd with internal-sftp. Ready when `sftp -b` gets a `pwd` through."""
    ssh: bool = True
    user: str = USER
    keys: SshKeys | None = None
    ftp_port: int = 0  # ferryd only: its FTP bind in the same process

    def sftp_argv(self, batch: str) -> list[str]:
        return ["sftp", "-q", "-F", "/dev/null", "-b", batch, "-P", str(self.port),
                "-i", str(self.keys.client), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
                "-o", "LogLevel=ERROR", f"{self.user}@{HOST}"]

    def sftp(self, lines: list[str], timeout: float) -> tuple[float, str]:
        """Runs one `sftp -b` session with these batch lines; (wall seconds, stdout)."""
        start = time.perf_counter()
        out = subprocess.run(self.sftp_argv("-"), input="\n".join(lines) + "\n",
                             capture_output=True, text=True, timeout=timeout, env=client_env())
        took = time.perf_counter() - start
        if out.returncode != 0:
            raise RuntimeError(f"sftp against {self.name} failed ({out.returncode}): "
                               f"{(out.stderr or out.stdout).strip()[-400:]}")
        return took, out.stdout

    def start(self, workdir: Path) -> None:
        self.log = workdir / f"{self.name}-sftp.log"
        self.port = fresh_port(self.base_port)
        if self.name == "ferryd":
            self.ftp_port = fresh_port(self.base_port)
        with open(self.log, "ab") as log:
            cpu = self.start_cpu
            self.proc = subprocess.Popen(
                self.command(self.port), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **self.env},
                preexec_fn=None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu})),
            )
        deadline = time.monotonic() + 30
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                self.sftp(["pwd"], 10)
                time.sleep(0.3)
                self.base_procs = len(self.pids())
                return
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                last = str(e)
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not take an sftp login on port {self.port} within "
                           f"30 s: {last}")

    def stop(self) -> None:
        # sshd's sessions call setsid(): not in the listener's process group. Kill what this
        # server forked, by pid, before the group.
        if self.proc is not None:
            for pid in self.pids():
                if pid != self.proc.pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        super().stop()


def make_ssh_servers(args, workdir: Path, ferryd_env: dict[str, str]) -> list[Server]:
    """ferryd (SFTP, plus FTP for the idle FTP row) and sshd, each serving its own folder in
    SHM; the same client key logs in to both."""
    keys_dir = workdir / "ssh"
    keys_dir.mkdir(exist_ok=True)
    big = SHM / "src" / "big.bin"
    digest_file = workdir.parent / "big.sha256"  # reused while big.bin is the same file
    stamp = f"{big.stat().st_size} {big.stat().st_mtime_ns}"
    lines = digest_file.read_text().split("\n") if digest_file.exists() else []
    if len(lines) >= 2 and lines[0] == stamp:
        big_sha256 = lines[1]
    else:
        big_sha256 = sha256_file(big)
        digest_file.write_text(f"{stamp}\n{big_sha256}\n")
    keys = SshKeys(ssh_keygen(keys_dir / "client_ed25519"),
                   ssh_keygen(keys_dir / "ferryd_host_ed25519"),
                   ssh_keygen(keys_dir / "sshd_host_ed25519"), big_sha256)
    pub = keys.client.with_name(keys.client.name + ".pub")

    def folder(name: str) -> Path:
        path = SHM / name
        path.mkdir(parents=True, exist_ok=True)
        for f in ("big.bin", "small.bin"):
            if not (path / f).exists():
                os.link(SHM / "src" / f, path / f)
        return path

    # The FTP benchmark user (its Argon2id password stays) gets the client key too.
    users = workdir / "ferryd-users.toml"
    subprocess.run([args.ferryd, "user", "add", USER, "--users", str(users), "--key-file",
                    str(pub)], check=True, stdout=subprocess.DEVNULL)
    ferryd_root = folder("ferryd")
    ferryd = SshServer("ferryd", ferryd_root, lambda port: [], args.base_port, env=ferryd_env,
                       keys=keys)
    ferryd.command = lambda port: [
        args.ferryd, str(ferryd_root), "--sftp-bind", f"{HOST}:{port}", "--ssh-host-key",
        str(keys.ferryd_host), "--bind", f"{HOST}:{ferryd.ftp_port}", "--users", str(users),
        *FERRYD_LIMITS]
    servers: list[Server] = [ferryd]

    sshd_root = folder("sshd")
    authorized = workdir / "ssh" / "authorized_keys"
    authorized.write_text(pub.read_text())
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder

    def sshd(port: int) -> list[str]:
        config = workdir / "sshd_config"
        config.write_text("\n".join([
            f"Port {port}", f"ListenAddress {HOST}", f"HostKey {keys.sshd_host}",
            f"PidFile {workdir / 'sshd.pid'}", f"AuthorizedKeysFile {authorized}",
            "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin yes", "StrictModes no",
            "UsePAM no", "UseDNS no", "PrintMotd no", "MaxStartups 1000", "MaxSessions 10",
            "X11Forwarding no", "AllowTcpForwarding no",
            # internal-sftp starts in the served folder, so both servers see the same paths.
            f"Subsystem sftp internal-sftp -d {sshd_root}", "",
        ]))
        return [SSHD, "-D", "-e", "-f", str(config)]

    servers.append(SshServer("sshd", sshd_root, sshd, args.base_port, user=SSHD_USER,
                             keys=keys))
    return servers


def marked(lines: list[str]) -> list[str]:
    """Batch lines between two local `date` stamps: the time of the transfer proper, without
    the SSH handshake and login."""
    return ["!date +%s.%N", *lines, "!date +%s.%N"]


def between_marks(stdout: str) -> float:
    stamps = [float(line) for line in stdout.split() if re.fullmatch(r"\d+\.\d+", line)]
    if len(stamps) < 2:
        raise RuntimeError(f"no time stamps in sftp's output: {stdout[-300:]!r}")
    return stamps[1] - stamps[0]


def idle_sftp_sessions(server: SshServer, count: int, window: int, limit: float) -> dict:
    """`count` sftp sessions logged in and left idle (each reading its batch from a pipe we
    keep open after one `pwd`): the server's PSS after minus before, per session, summed over
    its processes as the FTP idle row does."""
    import select

    before, _ = server.pss_kib()
    held: list[subprocess.Popen] = []
    failures = 0
    deadline = time.monotonic() + limit
    start = time.perf_counter()
    try:
        while len(held) + failures < count and time.monotonic() < deadline:
            wave = []
            for _ in range(min(window, count - len(held) - failures)):
                proc = subprocess.Popen(server.sftp_argv("-"), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env=client_env())
                proc.stdin.write(b"pwd\n")
                proc.stdin.flush()
                wave.append(proc)
            for proc in wave:
                seen = b""
                while b"Remote working directory" not in seen and time.monotonic() < deadline:
                    ready, _, _ = select.select([proc.stdout], [], [], 1.0)
                    if ready:
                        chunk = os.read(proc.stdout.fileno(), 4096)
                        if not chunk:
                            break
                        seen += chunk
                if b"Remote working directory" in seen:
                    held.append(proc)
                else:
                    failures += 1
                    proc.kill()
                    proc.wait()
        login_s = time.perf_counter() - start
        time.sleep(1.0)  # let forked sessions settle
        after, procs = server.pss_kib()
    finally:
        for proc in held:
            try:
                proc.stdin.close()  # end of batch: sftp quits
            except OSError:
                pass
        for proc in held:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    failures = count - len(held)
    result = {"sftp_idle_kib_per_session": (after - before) / max(1, len(held)),
              "sftp_idle_failures": failures}
    if failures:
        result["note"] = f"{failures} of {count} idle sftp sessions did not log in"
    return result


def w_sftp(server: SshServer, args) -> dict:
    """Login, the big file down and up, the small files up and down, each one `sftp -b`
    session; then idle sessions on a fresh server (ferryd: SFTP, then FTP on another fresh
    one); then, on ferryd, `ferry get/put` against `sftp` on the same server."""
    keys, timeout = server.keys, args.timeout
    out: dict[str, float] = {}
    logins = sorted(server.sftp(["pwd"], timeout)[0] for _ in range(3))
    out["sftp_login_ms"] = logins[1] * 1000

    # The big file down: timed into /dev/null, then again into a file whose hash is checked.
    landed = SHM / "sftp-get.bin"
    landed.unlink(missing_ok=True)
    _, text = server.sftp(marked(["get big.bin /dev/null"]) + [f"get big.bin {landed}"], timeout)
    out["sftp_download_MBps"] = args.big_bytes / between_marks(text) / 1e6
    if landed.stat().st_size != args.big_bytes or sha256_file(landed) != keys.big_sha256:
        raise RuntimeError(f"the big file came down from {server.name} different")
    landed.unlink()

    # The big file up, from /dev/shm into a new file (fresh tmpfs pages), hash checked there.
    stored = server.root / "up.bin"
    stored.unlink(missing_ok=True)
    _, text = server.sftp(marked([f"put {SHM / 'src' / 'big.bin'} up.bin"]), timeout)
    out["sftp_upload_MBps"] = args.big_bytes / between_marks(text) / 1e6
    if stored.stat().st_size != args.big_bytes or sha256_file(stored) != keys.big_sha256:
        raise RuntimeError(f"the big file stored by {server.name} differs")
    stored.unlink()

    # Small files: args.files × 4 KiB up into many/, then down, one session each way.
    local = SHM / "sftp-files"
    shutil.rmtree(local, ignore_errors=True)
    (local / "up").mkdir(parents=True)
    (local / "down").mkdir()
    payload = os.urandom(4096)
    names = [f"f{i:05}" for i in range(args.files)]
    for name in names:
        (local / "up" / name).write_bytes(payload)
    remote = server.root / "many"
    shutil.rmtree(remote, ignore_errors=True)
    _, text = server.sftp(["mkdir many", *marked([f"put {local / 'up' / n} many/{n}"
                                                  for n in names])], timeout)
    out["sftp_small_up_files_per_s"] = args.files / between_marks(text)
    if any((remote / n).read_bytes() != payload for n in names):
        raise RuntimeError(f"a small file stored by {server.name} differs")
    _, text = server.sftp(marked([f"get many/{n} {local / 'down' / n}" for n in names]), timeout)
    out["sftp_small_down_files_per_s"] = args.files / between_marks(text)
    if any((local / "down" / n).read_bytes() != payload for n in names):
        raise RuntimeError(f"a small file came down from {server.name} different")
    shutil.rmtree(remote)
    shutil.rmtree(local)

    # Idle sessions, each count on a freshly started server.
    server.stop()
    server.start(args.workdir)
    if args.pin:
        pin_process(server.proc.pid, SERVER_CPU)
    idle = idle_sftp_sessions(server, args.sftp_idle, 10, args.idle_max_seconds)
    out.update(idle)
    if server.name == "ferryd":
        server.stop()
        server.start(args.workdir)
        if args.pin:
            pin_process(server.proc.pid, SERVER_CPU)
        ftp_view = Server(server.name, server.root, server.command, port=server.ftp_port,
                          proc=server.proc)
        ftp = asyncio.run(idle_sessions(ftp_view, args.sftp_idle, 10, timeout,
                                        args.idle_max_seconds))
        out["sftp_ftp_idle_kib_per_session"] = ftp["pss_kib_per_session"]
        if ftp["idle_failures"]:
            out["note"] = f"{ftp['idle_failures']} idle FTP sessions failed"
        try:
            out.update(sftp_client_rows(server, args))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            out["note"] = f"client rows: {e}"
    return out


def sftp_client_rows(server: SshServer, args) -> dict:
    """`ferry get`/`ferry put` against `sftp` on this same ferryd: wall-clock time of each
    whole command (login included for both), in the order ferry, sftp, sftp, ferry."""
    keys, timeout = server.keys, args.timeout
    home = args.workdir / "ferry-home"  # its own ~/.ssh/known_hosts
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    url = f"sftp://{USER}@{HOST}:{server.port}"
    ferry = [args.ferry, "-q", "--no-netrc", "-i", str(keys.client), "--accept-new-host-key"]
    env = client_env(home)

    def run(argv: list[str]) -> float:
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[-300:]}")
        return time.perf_counter() - start

    # The host key goes into the temporary known_hosts here, untimed.
    run([*ferry, "ls", f"{url}/"])
    # Into a file in /dev/shm, not /dev/null: `ferry get sftp://... -o /dev/null` fails
    # (fdatasync on a character device: EINVAL).
    landed = SHM / "client-get.bin"
    get_batch = args.workdir / "sftp-get.batch"
    get_batch.write_text(f"get big.bin {landed}\n")

    def get(argv: list[str]) -> float:
        landed.unlink(missing_ok=True)
        took = run(argv)
        if landed.stat().st_size != args.big_bytes:
            raise RuntimeError(f"{argv[0]} fetched {landed.stat().st_size} of {args.big_bytes} bytes")
        landed.unlink()
        return took

    ferry_get, sftp_get = abba(get, [*ferry, "get", f"{url}/big.bin", "-o", str(landed)],
                               server.sftp_argv(str(get_batch)))
    stored = server.root / "client-up.bin"
    put_batch = args.workdir / "sftp-put.batch"
    put_batch.write_text(f"put {SHM / 'src' / 'big.bin'} client-up.bin\n")
    checked = False

    def put(argv: list[str]) -> float:
        nonlocal checked
        stored.unlink(missing_ok=True)
        took = run(argv)
        if stored.stat().st_size != args.big_bytes:
            raise RuntimeError(f"{argv[0]} stored {stored.stat().st_size} of {args.big_bytes} bytes")
        if not checked and argv[0] == args.ferry:  # one hash per trial is enough
            if sha256_file(stored) != keys.big_sha256:
                raise RuntimeError("the big file stored by ferry put differs")
            checked = True
        stored.unlink()
        return took

    ferry_put, sftp_put = abba(put, [*ferry, "put", str(SHM / "src" / "big.bin"),
                                     f"{url}/client-up.bin"], server.sftp_argv(str(put_batch)))
    shutil.rmtree(home, ignore_errors=True)
    return {"sftp_client_get_ferry_MBps": args.big_bytes / ferry_get / 1e6,
            "sftp_client_get_sftp_MBps": args.big_bytes / sftp_get / 1e6,
            "sftp_client_put_ferry_MBps": args.big_bytes / ferry_put / 1e6,
            "sftp_client_put_sftp_MBps": args.big_bytes / sftp_put / 1e6}


# Rows not measured yet, listed under the table so a reader sees what is missing (none now).
TODO_ROWS: list[str] = []


# --------------------------------------------------------------------------------------------
# The machine's own limits
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# HTTP (issue 18): ferryd's HTTP front end against Debian's nginx
# --------------------------------------------------------------------------------------------

NGINX = "/usr/sbin/nginx"


@dataclass
class HttpServer(Server):
    """An HTTP server on a loopback port serving the shared folder SHM/http with HTTP Basic
    auth for USER: ferryd (--http-bind) or nginx (auth_basic). Ready when curl fetches
    small.bin with the password."""
    http: bool = True

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}/{path}"

    def start(self, workdir: Path) -> None:
        self.log = workdir / f"{self.name}-http.log"
        self.port = fresh_port(self.base_port)
        with open(self.log, "ab") as log:
            cpu = self.start_cpu
            self.proc = subprocess.Popen(
                self.command(self.port), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **self.env},
                preexec_fn=None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu})),
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text(errors='replace')[-2000:]}")
            probe = subprocess.run(["curl", "-sf", "--max-time", "5", "-o", "/dev/null", "-u",
                                    f"{USER}:{PASSWORD}", self.url("small.bin")])
            if probe.returncode == 0:
                time.sleep(0.3)
                self.base_procs = len(self.pids())
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not serve small.bin on port {self.port} within 30 s")


def make_http_servers(args, workdir: Path, ferryd_env: dict[str, str]) -> list[Server]:
    """ferryd and nginx serving the same folder SHM/http (the big file and args.files small
    files), both asking for the same Basic credentials: ferryd checks them against an Argon2id
    hash (a connection keeps its login, the shared login caches a verified password), nginx
    against an htpasswd line (see below for its scheme)."""
    root = SHM / "http"
    small = root / "small"
    shutil.rmtree(small, ignore_errors=True)
    small.mkdir(parents=True)
    for f in ("big.bin", "small.bin"):
        if not (root / f).exists():
            os.link(SHM / "src" / f, root / f)
    payload = (SHM / "src" / "small.bin").read_bytes()
    for i in range(args.files):
        (small / f"f{i:05}").write_bytes(payload)
    users = workdir / "ferryd-http-users.toml"
    users.unlink(missing_ok=True)
    subprocess.run([args.ferryd, "user", "add", USER, "--users", str(users), "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, stdout=subprocess.DEVNULL)
    ferryd = HttpServer("ferryd", root, lambda port: [], args.base_port, env=ferryd_env)
    # `--log-level warn`: no line per request, as nginx runs with `access_log off` (ferryd's
    # info level logs every HTTP request, its access log).
    ferryd.command = lambda port: [args.ferryd, str(root), "--http-bind", f"{HOST}:{port}",
                                   "--users", str(users), "--log-level", "warn", *FERRYD_LIMITS]

    # nginx checks the password against the htpasswd line on EVERY request, with no cache; the
    # schemes of `openssl passwd` (-1, -apr1: 1,000 rounds of MD5; -5, -6: 5,000 of SHA-2) are
    # slow on purpose and made nginx spend its time hashing (2,646 requests/s against ferryd's
    # 4,944 on the first run, 2026-12-06). ferryd verifies once per connection (and caches a
    # verified password across connections), so to compare serving rather than hashing nginx
    # gets its cheapest scheme, `{SHA}` (one SHA-1, made with openssl).
    digest = subprocess.run(["openssl", "dgst", "-sha1", "-binary"], input=PASSWORD.encode(),
                            capture_output=True, check=True).stdout
    htpasswd = workdir / "nginx.htpasswd"
    htpasswd.write_text(f"{USER}:{{SHA}}{base64.b64encode(digest).decode()}\n")
    nginx = HttpServer("nginx", root, lambda port: [], args.base_port)

    def nginx_argv(port: int) -> list[str]:
        # Workers: the CPUs nginx may run on (1 with --pin, as ferryd's runtime sees then).
        workers = 1 if nginx.start_cpu is not None else len(os.sched_getaffinity(0))
        temp = workdir / "nginx-temp"
        temp.mkdir(exist_ok=True)
        config = workdir / "nginx.conf"
        config.write_text("\n".join([
            "daemon off;", "master_process on;", "user root;", f"worker_processes {workers};",
            f"pid {workdir / 'nginx.pid'};", f"error_log {workdir / 'nginx-error.log'} warn;",
            "events { worker_connections 4096; }",
            "http {",
            "    access_log off;", "    sendfile on;", "    tcp_nopush on;",
            "    keepalive_requests 1000000;", "    keepalive_timeout 65;",
            "    default_type application/octet-stream;",
            f"    client_body_temp_path {temp};",
            "    server {",
            f"        listen {HOST}:{port};",
            f"        root {root};",
            '        auth_basic "ferry-bench";',
            f"        auth_basic_user_file {htpasswd};",
            "    }",
            "}", "",
        ]))
        return [NGINX, "-c", str(config), "-e", str(workdir / "nginx-error.log")]

    nginx.command = nginx_argv
    return [ferryd, nginx]


WRK_SCRIPT = """-- Each request a different one of the small files, in turn (per thread).
local n, i = %d, 0
request = function()
  i = (i + 1) %% n
  return wrk.format("GET", string.format("/small/f%%05d", i))
end
"""


def w_http(server: HttpServer, args) -> dict:
    """The big file with curl into /dev/null, then the small files with wrk: 200 keep-alive
    connections for args.http_seconds, each request the next small file."""
    out: dict[str, float] = {}
    size, secs = run_curl(["-u", f"{USER}:{PASSWORD}", "-o", "/dev/null",
                           server.url("big.bin")], args.timeout)
    if size != args.big_bytes:
        raise RuntimeError(f"downloaded {size} of {args.big_bytes} bytes from {server.name}")
    out["http_download_MBps"] = size / secs / 1e6
    # One small file checked byte for byte before the load.
    got = subprocess.run(["curl", "-sSf", "-u", f"{USER}:{PASSWORD}",
                          server.url("small/f00000")], capture_output=True, timeout=30)
    if got.returncode != 0 or got.stdout != (server.root / "small" / "f00000").read_bytes():
        raise RuntimeError(f"a small file came down from {server.name} different")
    script = args.workdir / "wrk-small.lua"
    script.write_text(WRK_SCRIPT % args.files)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    threads = len(os.sched_getaffinity(0))  # 1 when the client is pinned
    run = subprocess.run(["wrk", "-t", str(threads), "-c", str(args.http_clients), "-d",
                          f"{args.http_seconds}s", "--timeout", "10s", "-H",
                          f"Authorization: Basic {token}", "-s", str(script),
                          server.url("small/f00000")],
                         capture_output=True, text=True, timeout=args.http_seconds + 60)
    if run.returncode != 0:
        raise RuntimeError(f"wrk against {server.name} failed: {run.stderr.strip()[-300:]}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", run.stdout)
    if not rate:
        raise RuntimeError(f"no rate in wrk's output: {run.stdout[-300:]!r}")
    out["http_small_rps"] = float(rate.group(1))
    failures = 0
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", run.stdout)
    if bad:
        failures += int(bad.group(1))
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     run.stdout)
    if errs:
        failures += sum(int(g) for g in errs.groups())
    out["http_small_failures"] = failures
    return out


HTTP_TARGETS = {"http_download_MBps": 1.0, "http_small_rps": 0.8}


def http_section(args, results, sizes) -> list[str]:
    """The http workload: ferryd against nginx, same folder, same Basic credentials."""
    keys = [k for k in METRICS if k.startswith("http_") and k in results]
    if not keys:
        return []
    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    version = (version.stderr or version.stdout).strip().replace("nginx version: ", "")
    lines = ["", f"HTTP (issue 18): ferryd's HTTP front end against {version} (Debian, `sendfile "
             "on`, access_log off, workers = the server's CPUs; ferryd with `--log-level warn`, "
             "no line per request either), both serving one folder in /dev/shm with HTTP Basic "
             "auth for the same user and password (nginx's htpasswd line in its cheapest "
             "scheme, `{SHA}`: nginx checks it on every request):", "",
             table(results, ["ferryd", "nginx"], sizes, set(), keys)]
    verdicts = []
    for key, target in HTTP_TARGETS.items():
        a = median(results.get(key, {}).get("ferryd", []))
        b = median(results.get(key, {}).get("nginx", []))
        label = metric_info(key)[0].replace("1 GiB", sizes["big"])
        if a is None or not b:
            verdicts.append(f"{label}: not measured on both")
        else:
            verdicts.append(f"{label}: {a / b:.2f}× (target ≥ {target}×: "
                            f"{'met' if a / b >= target else 'NOT met'})")
    lines += ["", "Targets: " + "; ".join(verdicts) + "."]
    lines += ["", f"Download: `curl -u` into /dev/null, transfer time only (after "
              f"time_pretransfer). Small files: `wrk -c {args.http_clients} -d "
              f"{args.http_seconds}s` with an `Authorization: Basic` header, {args.files:,} "
              "different 4 KiB files in turn, one thread per client CPU; failures are non-2xx "
              "answers plus wrk's socket errors. One small file is compared byte for byte first."]
    return lines


# With --pin, the rows where one client talks to one server session run with the server on CPU 0
# and the client on CPU 1. Unpinned, the kernel decides per wake-up whether client and server
# share a CPU, and on this kind of VM that alone moves a small-file row by up to 2.7x.
# FTP servers are pinned just after they start. The SFTP servers (ferryd and sshd) start on the
# server CPU, as `taskset` or systemd's CPUAffinity= would start them: a ferryd pinned after
# start keeps the two tokio worker threads it made for two CPUs, and those two threads handing
# work to each other on one CPU cost it about 17% more CPU per GiB over SFTP (measured with
# `perf stat`, 2026-12-06: 2.02-2.10 s against 1.71-1.74 s per 1 GiB get). sshd forks per
# connection, so the two ways are the same for it.
PINNED_WORKLOADS = {"download", "upload", "small", "ftps-download", "ftps-upload", "ftps-small",
                    "sftp", "http"}
SERVER_CPU, CLIENT_CPU = 0, 1


def pin_process(pid: int, cpu: int) -> None:
    """Pins every thread of `pid` to `cpu`; threads and children it starts later inherit it."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except (ProcessLookupError, PermissionError):
            pass  # a thread that just ended


class PinnedClient:
    """Runs the body (and the clients it starts) on CLIENT_CPU, then restores the affinity."""

    def __init__(self, on: bool):
        self.on = on
        self.saved: set[int] = set()

    def __enter__(self):
        if self.on:
            self.saved = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {CLIENT_CPU})
        return self

    def __exit__(self, *exc):
        if self.on:
            os.sched_setaffinity(0, self.saved)
        return False


def machine_limits(args) -> dict:
    out: dict[str, float] = {}
    if shutil.which("iperf3"):
        port = args.base_port - 1
        server = subprocess.Popen(
            (["taskset", "-c", str(SERVER_CPU)] if args.pin else [])
            + ["iperf3", "-s", "-1", "-B", HOST, "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            time.sleep(0.5)
            run = subprocess.run(
                (["taskset", "-c", str(CLIENT_CPU)] if args.pin else [])
                + ["iperf3", "-c", HOST, "-p", str(port), "-t", str(args.iperf_seconds), "-J"],
                capture_output=True, text=True, timeout=args.iperf_seconds + 30,
            )
            report = json.loads(run.stdout)
            out["loopback_tcp_MBps"] = report["end"]["sum_received"]["bits_per_second"] / 8e6
        finally:
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            server.wait(timeout=5)
    big = SHM / "src" / "big.bin"
    start = time.perf_counter()
    subprocess.run(["dd", f"if={big}", "of=/dev/null", "bs=1M"], check=True, capture_output=True,
                   timeout=args.timeout)
    out["page_cache_read_MBps"] = args.big_bytes / (time.perf_counter() - start) / 1e6
    scratch = SHM / "src" / "write-test.bin"
    start = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={scratch}", "bs=1M", f"count={args.big_mib}"],
                   check=True, capture_output=True, timeout=args.timeout)
    out["shm_write_fresh_MBps"] = args.big_bytes / (time.perf_counter() - start) / 1e6
    scratch.unlink()
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

# metric -> (label, unit, higher is better)
METRICS = {
    "download_MBps": ("1 GiB download (curl)", "MB/s", True),
    "upload_MBps": ("1 GiB upload (curl), fresh tmpfs pages", "MB/s", True),
    "small_up_files_per_s": ("4 KiB files up, one session", "files/s", True),
    "small_down_files_per_s": ("4 KiB files down, one session", "files/s", True),
    "ftps_download_MBps": ("1 GiB download over FTPS (curl --ssl-reqd)", "MB/s", True),
    "ftps_upload_MBps": ("1 GiB upload over FTPS (curl --ssl-reqd)", "MB/s", True),
    "ftps_small_up_files_per_s": ("4 KiB files up over FTPS, one session (ftplib, PROT P)",
                                  "files/s", True),
    "ftps_small_down_files_per_s": ("4 KiB files down over FTPS, one session",
                                    "files/s", True),
    "client_get_ferry_MBps": ("client: `ferry get` 1 GiB from ferryd to /dev/null", "MB/s", True),
    "client_get_curl_MBps": ("client: `curl` 1 GiB from ferryd to /dev/null", "MB/s", True),
    "client_get_file_ferry_MBps": ("client: `ferry get` 1 GiB from ferryd into /dev/shm", "MB/s",
                                   True),
    "client_get_file_curl_MBps": ("client: `curl` 1 GiB from ferryd into /dev/shm", "MB/s", True),
    "client_mirror_ferry_files_per_s": ("client: `ferry mirror --parallel 4` from ferryd", "files/s", True),
    "client_mirror_lftp_files_per_s": ("client: `lftp mirror --parallel=4` from ferryd", "files/s", True),
    "client_pget_ferry_MBps": ("client: `ferry get --segments 4` 1 GiB into /dev/shm", "MB/s", True),
    "client_pget_lftp_MBps": ("client: `lftp pget -n 4` 1 GiB into /dev/shm", "MB/s", True),
    "client_mirror1_ferry_files_per_s": ("client: `ferry mirror` (one connection)", "files/s", True),
    "client_mirror1_verify_files_per_s": ("client: `ferry mirror --verify` (one connection)",
                                          "files/s", True),
    "client_mirror1_lftp_files_per_s": ("client: `lftp mirror` (one connection)", "files/s", True),
    "login_all_s": ("idle sessions: time to log all in", "s", False),
    "pss_kib_per_session": ("idle sessions: PSS per session", "KiB", False),
    "idle_failures": ("idle sessions: failures", "", False),
    "sftp_login_ms": ("sftp: connect, log in (ed25519 key), pwd, quit", "ms", False),
    "sftp_download_MBps": ("sftp: 1 GiB download (get to /dev/null)", "MB/s", True),
    "sftp_upload_MBps": ("sftp: 1 GiB upload, fresh tmpfs pages (put)", "MB/s", True),
    "sftp_small_up_files_per_s": ("sftp: 4 KiB files up, one session", "files/s", True),
    "sftp_small_down_files_per_s": ("sftp: 4 KiB files down, one session", "files/s", True),
    "sftp_idle_kib_per_session": ("idle SFTP session: PSS per session", "KiB", False),
    "sftp_ftp_idle_kib_per_session": ("idle FTP session, same count (ferryd): PSS per session",
                                      "KiB", False),
    "sftp_idle_failures": ("idle SFTP sessions: failures", "", False),
    "http_download_MBps": ("http: 1 GiB download (curl to /dev/null)", "MB/s", True),
    "http_small_rps": ("http: 4 KiB files, 200 keep-alive clients (wrk)", "requests/s", True),
    "http_small_failures": ("http: 4 KiB files: failures", "", False),
}


def metric_info(key: str) -> tuple[str, str, bool]:
    if key in METRICS:
        return METRICS[key]
    if key.startswith("c") and "_" in key:
        n, rest = key[1:].split("_", 1)
        return {
            "sessions_per_s": (f"{n} concurrent sessions: rate", "sessions/s", True),
            "p99_ms": (f"{n} concurrent sessions: p99 latency", "ms", False),
            "failures": (f"{n} concurrent sessions: failures", "", False),
        }[rest]
    return key, "", True


def fmt(value: float | str | None) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "–"
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(results: dict, names: list[str], label_sizes: dict, cut: set,
          keys: list[str] | None = None) -> str:
    """`cut` holds (metric prefix, server) pairs whose trial was stopped early: marked †.
    `keys`: the rows (default: every FTP row; S3 and SFTP have their own sections)."""
    peers = [n for n in names if n != "ferryd"]
    head = ["Workload", "unit", *names, *[f"ferryd/{p}" for p in peers]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if keys is None:
        keys = [k for k in results if k != "machine" and not k.startswith(("s3_", "sftp_", "http_"))]
    for key in keys:
        label, unit, higher = metric_info(key)
        label = label.replace("1 GiB", label_sizes["big"]).replace("4 KiB files", label_sizes["files"])
        arrow = "↑" if higher else "↓"
        meds = {n: median(results[key].get(n, [])) for n in names}

        def cell(n: str) -> str:
            mark = "†" if any(key.startswith(prefix) and n == who for prefix, who in cut) else ""
            return fmt(meds[n]) + mark

        row = [f"{label} {arrow}", unit, *[cell(n) for n in names]]
        if "failures" in key:  # a ratio of failure counts means nothing
            lines.append("| " + " | ".join(row + ["–"] * len(peers)) + " |")
            continue
        for p in peers:
            a, b = meds.get("ferryd"), meds.get(p)
            row.append(f"{a / b:.2f}×" if a is not None and b not in (None, 0) and a == a and b == b else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main() -> int:
    global MAX_SERVER_GIB
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ferryd", default=str(REPO / "target/release/ferryd"))
    p.add_argument("--ferry", default=str(REPO / "target/release/ferry"), help="the ferry client")
    p.add_argument("--ferryd-env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment for ferryd (e.g. MALLOC_MMAP_THRESHOLD_=131072); repeatable")
    p.add_argument("--peers-root", default="/var/tmp/ferry-bench/root",
                   help="folder where vsftpd and Pure-FTPd were unpacked (dpkg -x)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64 MiB file, 100 files, 50 sessions, 500 idle, 1 round")
    p.add_argument("--rounds", type=int)
    p.add_argument("--big-mib", type=int)
    p.add_argument("--files", type=int)
    p.add_argument("--concurrency", help="comma-separated client counts (default 50,200,500)")
    p.add_argument("--idle", type=int, help="idle logged-in sessions (default 10000)")
    p.add_argument("--idle-window", type=int, default=200, help="logins in flight at once")
    p.add_argument("--sftp-idle", type=int,
                   help="idle sessions of the sftp workload, SFTP and FTP alike (default 100; "
                   "quick 20)")
    p.add_argument("--idle-max-seconds", type=float,
                   help="bound on the whole idle login phase (default 600; quick 120)")
    p.add_argument("--idle-rounds", type=int, help="rounds that include the idle row (default: all)")
    p.add_argument("--max-server-gib", type=float, default=MAX_SERVER_GIB,
                   help="cut a trial short when the server's main process holds more memory")
    p.add_argument("--servers", default="ferryd,vsftpd,pure-ftpd,pyftpdlib")
    p.add_argument("--workloads",
                   default="limits,download,upload,small,concurrent,idle,ftps,client,s3",
                   help="comma-separated subset of the default, or sftp or http (not in the "
                   "default): ferryd's SFTP against OpenSSH's sshd, ferryd's HTTP against nginx")
    p.add_argument("--http-clients", type=int, default=200,
                   help="keep-alive connections of the http workload's small-file row")
    p.add_argument("--http-seconds", type=int,
                   help="seconds of load in the http workload's small-file row (default 10; "
                   "quick 5)")
    p.add_argument("--s3-server", choices=["s3s-fs", "seaweedfs"], default="s3s-fs",
                   help="the S3 server behind ferryd in the s3 workload (started on loopback)")
    p.add_argument("--base-port", type=int, default=21000,
                   help="servers take ports above this, a fresh one per trial; keep it below "
                   "the ephemeral range (net.ipv4.ip_local_port_range)")
    p.add_argument("--pin", action="store_true",
                   help="run the one-session rows (download, upload, small files, and their FTPS "
                   "forms) with the server on CPU 0 and the client on CPU 1, so that the kernel's "
                   "choice of sharing a CPU or not does not decide the row")
    p.add_argument("--timeout", type=float, default=120, help="seconds for any one trial")
    p.add_argument("--max-minutes", type=float, help="stop starting trials after this long")
    p.add_argument("--results", help="write the markdown report to this file")
    args = p.parse_args()

    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.big_mib = args.big_mib or (64 if quick else 1024)
    args.files = args.files or (100 if quick else 1000)
    args.concurrency = [int(c) for c in (args.concurrency or ("50" if quick else "50,200,500")).split(",")]
    args.idle = args.idle if args.idle is not None else (500 if quick else 10000)
    args.sftp_idle = args.sftp_idle or (20 if quick else 100)
    args.max_minutes = args.max_minutes or (8 if quick else 90)
    args.idle_max_seconds = args.idle_max_seconds or (120 if quick else 600)
    args.idle_rounds = args.idle_rounds if args.idle_rounds is not None else args.rounds
    args.iperf_seconds = 2 if quick else 5
    args.http_seconds = args.http_seconds or (5 if quick else 10)
    args.big_bytes = args.big_mib * 1024 * 1024
    MAX_SERVER_GIB = args.max_server_gib
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        p.error("--pin needs two CPUs (one for the server, one for the client)")
    args.servers = args.servers.split(",")
    workloads = args.workloads.split(",")
    args.workloads_list = workloads
    args.workdir = None  # set below

    if os.geteuid() != 0:
        print("bench: must run as root (vsftpd and Pure-FTPd switch to a local user)", file=sys.stderr)
        return 2
    # Idle sessions: our client sockets plus the servers' (they inherit this limit).
    want = args.idle + 2000  # our client sockets; each server has its own table
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            print(f"bench: RLIMIT_NOFILE capped at {hard}; idle sessions may fail", file=sys.stderr)

    # One run at a time: a second one would rewrite the shared files under the first.
    Path("/var/tmp/ferry-bench").mkdir(parents=True, exist_ok=True)
    lock = open("/var/tmp/ferry-bench/lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("bench: another bench run is in progress (/var/tmp/ferry-bench/lock)", file=sys.stderr)
        return 2
    workdir = Path(f"/var/tmp/ferry-bench/run-{os.getpid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    args.workdir = workdir
    (SHM / "src").mkdir(parents=True, exist_ok=True)
    big = SHM / "src" / "big.bin"
    if not big.exists() or big.stat().st_size != args.big_bytes:
        for name in ("ferryd", "vsftpd", "pure-ftpd", "pyftpdlib", "sshd", "http"):
            shutil.rmtree(SHM / name, ignore_errors=True)
        with open(big, "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(args.big_mib):
                f.write(chunk)
    small = SHM / "src" / "small.bin"
    if not small.exists():
        small.write_bytes(os.urandom(4096))
    os.chmod(big, 0o644)
    os.chmod(small, 0o644)

    uid, gid = prepare_user()
    servers = make_servers(args, workdir, uid, gid)
    if "sftp" in workloads:
        servers += make_ssh_servers(args, workdir,
                                    dict(kv.split("=", 1) for kv in args.ferryd_env))
    if "http" in workloads:
        servers += make_http_servers(args, workdir,
                                     dict(kv.split("=", 1) for kv in args.ferryd_env))
    atexit.register(lambda: [s.stop() for s in servers])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    for s in servers:  # fail early on a server that cannot start
        s.start(workdir)
        s.stop()
        print(f"bench: {s.name}{' (SFTP)' if s.ssh else ' (HTTP)' if s.http else ''} starts, "
              f"serving {s.root}",
              flush=True)

    plan: list[tuple[str, object]] = []
    if "download" in workloads:
        plan.append(("download", w_download))
    if "upload" in workloads:
        plan.append(("upload", w_upload))
    if "small" in workloads:
        plan.append(("small", w_small_files))
    if "concurrent" in workloads:
        for n in args.concurrency:
            plan.append((f"concurrent-{n}", w_concurrent(n)))
    if "idle" in workloads:
        plan.append(("idle", w_idle))
    if "ftps" in workloads:
        plan.append(("ftps-download", w_ftps_download))
        plan.append(("ftps-upload", w_ftps_upload))
        plan.append(("ftps-small", w_ftps_small_files))
    if "client" in workloads:
        plan.append(("client", w_client))
    if "s3" in workloads:
        plan.append(("s3", w_s3))
    if "sftp" in workloads:
        plan.append(("sftp", w_sftp))
    if "http" in workloads:
        plan.append(("http", w_http))

    results: dict[str, dict[str, list[float]]] = {}
    machine: dict[str, list[float]] = {}
    loads: list[tuple[float, float, float]] = [os.getloadavg()]
    started = time.monotonic()
    deadline = started + args.max_minutes * 60
    names = list(dict.fromkeys(s.name for s in servers if not s.ssh and not s.http))
    errors: list[str] = []
    cut: set[tuple[str, str]] = set()
    for rnd in range(args.rounds):
        if "limits" in workloads and time.monotonic() < deadline:
            for k, v in machine_limits(args).items():
                machine.setdefault(k, []).append(v)
        order = servers[rnd % len(servers):] + servers[: rnd % len(servers)]
        for wname, work in plan:
            if wname == "idle" and rnd >= args.idle_rounds:
                continue
            for s in order:
                if (s.tls != wname.startswith("ftps") or s.ssh != (wname == "sftp")
                        or s.http != (wname == "http")) or (
                        wname in ("client", "s3") and s.name != "ferryd"):
                    continue
                if time.monotonic() > deadline:
                    errors.append(f"round {rnd + 1}: {wname} on {s.name} skipped (past --max-minutes)")
                    continue
                t0 = time.monotonic()
                # A fresh server for every trial: no trial pays for memory an earlier one left.
                try:
                    pinned = args.pin and wname in PINNED_WORKLOADS
                    if s.ssh or s.http:
                        s.start_cpu = SERVER_CPU if pinned else None
                    if wname != "s3":  # the s3 trial starts a ferryd of its own
                        s.start(workdir)
                    if pinned and s.proc is not None:
                        pin_process(s.proc.pid, SERVER_CPU)
                    with PinnedClient(pinned):
                        values = work(s, args)
                except Exception as e:  # one failed trial must not stop the others
                    errors.append(f"round {rnd + 1}: {wname} on {s.name}: {e}")
                    print(f"bench: {errors[-1]}", flush=True)
                    continue
                finally:
                    s.stop()
                if "note" in values:
                    errors.append(f"round {rnd + 1}: {wname} on {s.name}: {values.pop('note')}")
                    prefix = "c" + wname.split("-")[1] + "_" if wname.startswith("concurrent") else ""
                    cut.update((k, s.name) for k in values if not prefix or k.startswith(prefix))
                for k, v in values.items():
                    if k in ("processes", "server_pss_MiB"):
                        continue
                    results.setdefault(k, {}).setdefault(s.name, []).append(v)
                shown = ", ".join(f"{k}={fmt(v)}" for k, v in values.items())
                shown += f" [load {os.getloadavg()[0]:.1f}]"
                print(f"bench: round {rnd + 1} {wname:>15} {s.name:>9}: {shown} "
                      f"({time.monotonic() - t0:.1f} s)", flush=True)
            loads.append(os.getloadavg())
    for s in servers:
        s.stop()
    elapsed = time.monotonic() - started

    sizes = {"big": f"{args.big_mib} MiB" if args.big_mib != 1024 else "1 GiB",
             "files": f"{args.files:,} × 4 KiB files"}
    report = render(args, results, machine, loads, names, sizes, errors, elapsed, cut)
    raw = workdir / "raw.json"
    raw.write_text(json.dumps({"results": results, "machine": machine, "loads": loads}, indent=1))
    print()
    print(report)
    if args.results:
        Path(args.results).write_text(report)
        print(f"bench: wrote {args.results}")
    print(f"bench: server logs in {workdir}")
    return 0


S3_TARGET_MIB = 64  # issue 6: a 1 GiB upload through S3 keeps ferryd under this above idle


def s3_section(args, results, sizes) -> list[str]:
    """The S3 upload memory line (ferryd only: the peers have no S3 back-end)."""
    peaks = results.get("s3_peak_over_idle_MiB", {}).get("ferryd", [])
    if not peaks:
        return []

    def med(key: str) -> float:
        return median(results[key]["ferryd"])

    peak, worst = med("s3_peak_over_idle_MiB"), max(peaks)
    verdict = "met" if worst < S3_TARGET_MIB else "NOT met"
    server = {"s3s-fs": f"s3s-fs {S3S_FS_VERSION}", "seaweedfs": "SeaweedFS (weed mini)"}[args.s3_server]
    lines = [
        "", f"S3 upload (ferryd only, `--storage s3://` into {server} on loopback, data in /dev/shm):",
        "",
        f"- S3 upload {sizes['big']}: ferryd peak +{peak:.1f} MiB over idle (target < "
        f"{S3_TARGET_MIB} MiB: {verdict}), {fmt(med('s3_upload_MBps'))} MB/s",
        f"- how: idle RSS {med('s3_idle_MiB'):.1f} MiB after start-up and one login; peak = VmHWM "
        f"after `echo 5 > /proc/PID/clear_refs` just before `curl -T` (RSS sampled every 10 ms: "
        f"+{med('s3_sampled_over_idle_MiB'):.1f} MiB); median of {len(peaks)} round(s), worst "
        f"+{worst:.1f} MiB; object size checked by a signed HEAD on the S3 server; MB/s includes "
        f"completing the multipart upload",
    ]
    if args.big_mib != 1024:
        lines.append(f"- a {sizes['big']} file (--quick or --big-mib), not the 1 GiB the target "
                     "is about")
    return lines


SFTP_CLIENT_ROWS = [
    ("get 1 GiB from ferryd into /dev/shm", "sftp_client_get_ferry_MBps", "sftp_client_get_sftp_MBps"),
    ("put 1 GiB to ferryd from /dev/shm", "sftp_client_put_ferry_MBps", "sftp_client_put_sftp_MBps"),
]


def sftp_section(args, results, sizes) -> list[str]:
    """The sftp workload: ferryd against sshd with OpenSSH's sftp, then ferry against sftp."""
    keys = [k for k in METRICS if k.startswith("sftp_") and k in results]
    if not keys:
        return []
    lines = ["", f"SFTP (issue 17): OpenSSH's `sftp -b` against ferryd and OpenSSH's sshd "
             f"({sshd_version()}, internal-sftp), one ed25519 client key, default ciphers:", "",
             table(results, ["ferryd", "sshd"], sizes, set(), keys)]
    missed, compared = [], 0
    for key in keys:
        label, _, higher = metric_info(key)
        a = median(results[key].get("ferryd", []))
        b = median(results[key].get("sshd", []))
        if "failures" in key or a is None or b in (None, 0):
            continue
        compared += 1
        if (a / b < 1.0) if higher else (a / b > 1.0):
            missed.append(label.replace("1 GiB", sizes["big"])
                          .replace("4 KiB files", sizes["files"]))
    verdict = ("no row measured on both servers." if not compared else
               "met on every row." if not missed else "missed on " + "; ".join(missed) + ".")
    lines += ["", "Target ferryd ≥ 1.0× sshd (↓ rows: ferryd ≤ sshd): " + verdict]
    lines += ["", "Transfer rows time the transfer proper (between two `!date` lines of the "
              "batch); the login row is the whole `sftp -b` command, median of 3. Bytes checked: "
              "sizes, the small files' contents, and a SHA-256 of the big file after each "
              "upload and after a second, untimed download into /dev/shm. Idle rows: "
              f"{args.sftp_idle} sessions held open, PSS of the server's processes after minus "
              "before, per session (the FTP idle row's method), each on a fresh server."]
    client = [(label, results.get(f, {}).get("ferryd", []), results.get(o, {}).get("ferryd", []))
              for label, f, o in SFTP_CLIENT_ROWS]
    if any(f for _, f, _ in client):
        lines += ["", "Client: `ferry` against OpenSSH's `sftp` on the same ferryd, wall-clock "
                  "time of each whole command (login included), order ferry, sftp, sftp, ferry:",
                  "", "| Workload | unit | ferry | sftp | ferry/sftp |", "|---|---|---|---|---|"]
        for label, f, o in client:
            a, b = median(f), median(o)
            ratio = f"{a / b:.2f}×" if a and b else "–"
            lines.append(f"| {label.replace('1 GiB', sizes['big'])} ↑ | MB/s | {fmt(a)} | "
                         f"{fmt(b)} | {ratio} |")
    return lines


CLIENT20_ROWS = [
    ("get 1 GiB over 4 connections (ferry --segments 4 / lftp pget -n 4)",
     "client_pget_ferry_MBps", "client_pget_lftp_MBps"),
    ("mirror 4 KiB files (ferry / lftp mirror)",
     "client_mirror1_ferry_files_per_s", "client_mirror1_lftp_files_per_s"),
    ("mirror 4 KiB files --verify (ferry --verify / lftp mirror)",
     "client_mirror1_verify_files_per_s", "client_mirror1_lftp_files_per_s"),
    ("cost of --verify (ferry --verify / ferry)",
     "client_mirror1_verify_files_per_s", "client_mirror1_ferry_files_per_s"),
]


def client20_section(results, sizes) -> list[str]:
    """Issue 20's client rows: ferry against lftp on the same ferryd, as ratios."""
    rows = [(label, median(results.get(a, {}).get("ferryd", [])),
             median(results.get(b, {}).get("ferryd", []))) for label, a, b in CLIENT20_ROWS]
    if not any(a for _, a, _ in rows):
        return []
    lines = ["", "Client (issue 20): `ferry` against `lftp` on the same ferryd, wall-clock time "
             "of each whole command (login included); ratios > 1 mean ferry is faster. "
             "Target: --verify costs at most 10% on the mirror row (ratio ≥ 0.90).", "",
             "| Workload | ratio |", "|---|---|"]
    for label, a, b in rows:
        ratio = f"{a / b:.2f}×" if a and b else "–"
        label = label.replace("1 GiB", sizes["big"]).replace("4 KiB files", sizes["files"])
        lines.append(f"| {label} | {ratio} |")
    return lines


def sshd_version() -> str:
    out = subprocess.run([SSHD, "-V"], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().split(",")[0] or "sshd"


def render(args, results, machine, loads, names, sizes, errors, elapsed, cut) -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    one_min = [l[0] for l in loads]
    ferry_rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                               capture_output=True, text=True).stdout.strip()
    lines = [
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.rounds} round(s), "
        f"medians; {elapsed / 60:.1f} min; ferryd at {ferry_rev}.",
        f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"{mem:.1f} GiB memory, Linux {platform.release()}.",
        f"Load average (1 min) during the run: min {min(one_min):.2f}, median "
        f"{statistics.median(one_min):.2f}, max {max(one_min):.2f} (sampled after each workload).",
        "Placement: " + (f"one-session rows and iperf3 pinned, server on CPU {SERVER_CPU}, client on "
                         f"CPU {CLIENT_CPU} (--pin)." if args.pin else
                         "left to the kernel (no --pin)."),
    ]
    if machine:
        lines += ["", "Machine limits (same run):", ""]
    for k, vs in machine.items():
        label = {"loopback_tcp_MBps": "loopback TCP, one stream (iperf3)",
                 "page_cache_read_MBps": "page-cache read (dd bs=1M of the big file in /dev/shm)",
                 "shm_write_fresh_MBps": "/dev/shm write into fresh pages (dd bs=1M)"}.get(k, k)
        lines.append(f"- {label}: {fmt(median(vs))} MB/s")
    dl = median(results.get("download_MBps", {}).get("ferryd", []))
    tcp = median(machine.get("loopback_tcp_MBps", []))
    if dl and tcp:
        lines.append(f"- ferryd download / loopback TCP: {dl / tcp:.0%} (target ≥ 70%)")
    lines += s3_section(args, results, sizes)
    lines += sftp_section(args, results, sizes)
    lines += client20_section(results, sizes)
    lines += http_section(args, results, sizes)
    if any(not k.startswith(("s3_", "sftp_", "http_")) for k in results):
        lines += ["", "↑ higher is better, ↓ lower is better; the ratio is ferryd / peer.", "",
                  table(results, names, sizes, cut)]
    if cut:
        lines += ["", "† stopped early in at least one round (see below): over what it did "
                  "before it was stopped."]
    if TODO_ROWS:
        lines += ["", "Not measured yet (TODO hooks in bench/driver.py):", ""]
        lines += [f"- {row}" for row in TODO_ROWS]
    if errors:
        lines += ["", "Trials that failed, stopped early or were skipped:", ""]
        lines += [f"- {e}" for e in errors]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
