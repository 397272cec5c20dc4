#!/usr/bin/env bash
# Installs the peer FTP servers the interop suite starts beside ferryd: vsftpd, Pure-FTPd and
# ProFTPD (for mod_digest) unpacked side by side under $FERRY_PEERS (they conflict as Debian packages, and installing either
# would start a service on port 21), pyftpdlib (with pyOpenSSL, for its TLS handler) for python3,
# a login user for vsftpd and a PAM service of our own.
#
# Idempotent: a second run checks what is there and returns in well under a second.
# Run as root (it is on these machines and in CI); scripts/test (the README's test command) calls it.
set -euo pipefail

PEERS="${FERRY_PEERS:-/opt/ferry-peers}"
# A throwaway local account on a test machine, for vsftpd's PAM logins (vsftpd only logs in
# system users). Its password is a test fixture, not a secret; the suite knows it too
# (tests/common/peers.rs). It has no shell and its home is an empty folder of ours.
PEER_USER=ferrypeer
PEER_PASSWORD=ferrypeer-pass
PAM_SERVICE=ferry-vsftpd

have_binaries() {
  [ -x "$PEERS/root/usr/sbin/vsftpd" ] && [ -x "$PEERS/root/usr/sbin/pure-ftpd" ] &&
    [ -x "$PEERS/root/usr/bin/pure-pw" ]
}

have_libraries() {
  local binary
  for binary in "$PEERS/root/usr/sbin/vsftpd" "$PEERS/root/usr/sbin/pure-ftpd"; do
    if ldd "$binary" | grep -q 'not found'; then
      return 1
    fi
  done
}

if ! have_binaries || ! have_libraries || ! command -v python3 >/dev/null; then
  apt-get update -qq
  # Runtime libraries of the two servers (from `apt-cache depends`), and PAM's unix module.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libc6 libcap2 libcrypt1 libpam0g libpam-modules libpam-runtime libssl3 libwrap0 libsodium23 \
    passwd python3 >/dev/null
fi

if ! have_binaries; then
  debs="$(mktemp -d)"
  chown _apt "$debs" 2>/dev/null || true  # apt-get download runs as _apt
  trap 'rm -rf "$debs"' EXIT
  (cd "$debs" && apt-get download -qq vsftpd pure-ftpd pure-ftpd-common)
  mkdir -p "$PEERS/root"
  for deb in "$debs"/*.deb; do
    dpkg -x "$deb" "$PEERS/root"
  done
fi
have_binaries || { echo "install.sh: vsftpd or pure-ftpd missing after unpacking" >&2; exit 1; }
if ! have_libraries; then
  echo "install.sh: libraries still missing:" >&2
  ldd "$PEERS/root/usr/sbin/vsftpd" "$PEERS/root/usr/sbin/pure-ftpd" | grep 'not found' >&2
  exit 1
fi

# ProFTPD (Debian's proftpd-core, unpacked the same way so that no service starts) for its
# mod_digest: the peer that proves HASH's reply format (tests/proftpd.rs), and its libraries.
have_proftpd() {
  [ -x "$PEERS/root/usr/sbin/proftpd" ] && [ -f "$PEERS/root/usr/lib/proftpd/mod_digest.so" ] &&
    ! ldd "$PEERS/root/usr/sbin/proftpd" | grep -q 'not found'
}
if ! have_proftpd; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libacl1 libhiredis0.14 libidn2-0 libmemcached11 libmemcachedutil2 libpcre2-8-0 \
    libpcre2-posix3 >/dev/null
  proftpd_debs="$(mktemp -d)"
  chown _apt "$proftpd_debs" 2>/dev/null || true
  (cd "$proftpd_debs" && apt-get download -qq proftpd-core)
  mkdir -p "$PEERS/root"
  dpkg -x "$proftpd_debs"/proftpd-core_*.deb "$PEERS/root"
  rm -rf "$proftpd_debs"
fi
have_proftpd || { echo "install.sh: proftpd or its mod_digest missing after unpacking" >&2; exit 1; }

# vsftpd's secure_chroot_dir: must exist, belong to root and not be writable by others.
mkdir -p "$PEERS/empty"
chmod 755 "$PEERS/empty"

# The login user (home must exist or vsftpd answers `500 OOPS: cannot change directory`).
if ! id "$PEER_USER" >/dev/null 2>&1; then
  mkdir -p "$PEERS/home"
  useradd --system --home-dir "$PEERS/home/$PEER_USER" --create-home \
    --shell /usr/sbin/nologin "$PEER_USER"
fi
mkdir -p "$PEERS/home/$PEER_USER"
chown "$PEER_USER:" "$PEERS/home/$PEER_USER"
if [ ! -f "$PEERS/.password-set" ]; then
  echo "$PEER_USER:$PEER_PASSWORD" | chpasswd
  touch "$PEERS/.password-set"
fi

# Our own PAM service, so the tests depend on nothing in /etc/pam.d/vsftpd.
pam="/etc/pam.d/$PAM_SERVICE"
pam_text=$'auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_permit.so'
if [ ! -f "$pam" ] || [ "$(cat "$pam")" != "$pam_text" ]; then
  printf '%s\n' "$pam_text" >"$pam"
fi

# pyftpdlib, and pyOpenSSL for its TLS_FTPHandler, for the python3 the tests run.
# Debian's own python3 takes Debian's packages; another one (pyenv) takes them from PyPI.
if ! python3 -c 'import pyftpdlib, OpenSSL' 2>/dev/null; then
  if [ "$(command -v python3)" = /usr/bin/python3 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3-pyftpdlib python3-openssl >/dev/null
  else
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
      pyftpdlib pyopenssl
  fi
fi
python3 -c 'import pyftpdlib, OpenSSL' ||
  { echo "install.sh: pyftpdlib or pyOpenSSL did not install" >&2; exit 1; }
