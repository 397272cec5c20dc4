#!/usr/bin/env bash
# Two ferryd nodes on one bucket of a 3-node Garage cluster (replication_factor 3), all on
# 127.0.0.1, and the cluster losing one Garage node (docs/scaling.md, "3-node Garage").
#
#   docs/garage-3node.sh                       # garage from $GARAGE or PATH
#   GARAGE=/path/to/garage docs/garage-3node.sh
#
# Needs: garage 2.x (`cargo install garage --locked`, about 13 minutes to build), curl, openssl,
# cmp, and ferryd's release build (`cargo build --release -p ferry-server`; built here if missing,
# or point $FERRYD at one). Settings (environment): PORT_BASE (28700: Garage node N uses
# PORT_BASE+10N for S3, +1 RPC, +3 admin; the two ferryd nodes PORT_BASE+51 and +52), SIZE_MIB
# (64, the big test file), RESTART (1: restart the killed node at the end), KEEP (0: keep the
# temporary folder with the configs, data and logs).
#
# The RPC secret and the S3 key are made up at run time (openssl rand) and live only in the
# temporary folder; the Garage configs holding the secret are mode 600. Every process started
# here is killed on exit by its PID, and nothing else is.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
PORT_BASE=${PORT_BASE:-28700}
SIZE_MIB=${SIZE_MIB:-64}
RESTART=${RESTART:-1}
KEEP=${KEEP:-0}
REGION=garage # ferryd's --s3-region must equal Garage's s3_region
BUCKET=ftp

die() {
    echo "garage-3node: $*" >&2
    exit 1
}

garage=${GARAGE:-$(command -v garage || true)}
[[ -n $garage && -x $garage ]] || die "no garage binary: set GARAGE=/path/to/garage or put it in \
PATH (install: cargo install garage --locked, about 13 minutes)"
for tool in curl openssl cmp; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
ferryd=${FERRYD:-$repo/target/release/ferryd}
if [[ ! -x $ferryd ]]; then
    echo "garage-3node: building ferryd (release)"
    (cd "$repo" && cargo build --release -q -p ferry-server)
fi

# Free: nothing listens there and no socket holds it as its local port (Garage binds its RPC port
# without SO_REUSEADDR, so even a TIME-WAIT socket makes it panic). Keep PORT_BASE below the
# ephemeral range (net.ipv4.ip_local_port_range), where outgoing connections take ports.
port_free() {
    if command -v ss >/dev/null; then
        [[ -z $(ss -Htan "sport = :$1") ]]
    else
        ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}
s3_port() { echo $((PORT_BASE + 10 * $1)); }
rpc_port() { echo $((PORT_BASE + 10 * $1 + 1)); }
admin_port() { echo $((PORT_BASE + 10 * $1 + 3)); }
ftp_port() { echo $((PORT_BASE + 50 + $1)); }
all_free() {
    local n port
    for n in 1 2 3; do
        for port in "$(s3_port "$n")" "$(rpc_port "$n")" "$(admin_port "$n")"; do
            port_free "$port" || return 1
        done
    done
    for n in 1 2; do
        port_free "$(ftp_port "$n")" || return 1
    done
}
# The first block of 100 ports, from PORT_BASE up, that is all free (a previous run's
# TIME-WAIT sockets hold its ports for a minute).
for ((tries = 0; tries < 20; tries++)); do
    all_free && break
    PORT_BASE=$((PORT_BASE + 100))
done
all_free || die "no free block of ports from PORT_BASE up: pick another PORT_BASE"

work=$(mktemp -d /tmp/ferry-garage3.XXXXXX)
declare -A pid=() # name -> PID of a process started here
cleanup() {
    local status=$?
    for name in "${!pid[@]}"; do
        kill -TERM "${pid[$name]}" 2>/dev/null || true
    done
    for name in "${!pid[@]}"; do
        wait "${pid[$name]}" 2>/dev/null || true
    done
    if [[ $KEEP == 1 || $status != 0 ]]; then
        echo "garage-3node: configs, data and logs kept in $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

t0=$(date +%s.%N)
clock() { printf '[%7.2f s]' "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"; }
say() { echo "$(clock) $*"; }
# Runs a command, prints it (secrets masked) with its outcome and duration; fails the script if
# it fails.
step() {
    local shown="$*" start end out rc=0
    shown=${shown//$secret/<rpc_secret>}
    shown=${shown//$key_secret/<secret>}
    shown=${shown//$ftp_password/<password>}
    shown=${shown//$work/\$work}
    start=$(date +%s.%N)
    out=$("$@" 2>&1) || rc=$?
    end=$(date +%s.%N)
    printf '%s $ %s  -> %s (%.2f s)\n' "$(clock)" "$shown" \
        "$([[ $rc == 0 ]] && echo ok || echo "FAILED, exit $rc")" \
        "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
    if [[ $rc != 0 ]]; then
        echo "$out" | tail -20 >&2
        return "$rc"
    fi
    [[ -z ${SHOW:-} || -z $out ]] || echo "$out" | sed 's/^/      /'
}
# Retries a command every 0.5 s for at most $1 seconds; says how many tries it took and what
# the first failure said.
retry() {
    local limit=$1 start tries=1 first="" out
    shift
    start=$(date +%s)
    until out=$("$@" 2>&1); do
        [[ -n $first ]] || first=$(echo "$out" | grep -v '^$' | head -1)
        (($(date +%s) - start < limit)) || return 1
        sleep 0.5
        tries=$((tries + 1))
    done
    if ((tries > 1)); then
        echo "$tries tries; the first failed with: ${first:-(no output)}"
    fi
}

secret=$(openssl rand -hex 32)
key_id=GK$(openssl rand -hex 12)
key_secret=$(openssl rand -hex 32)
ftp_password=$(openssl rand -hex 12) # ferryd's user "demo"

# ---- Garage: 3 nodes, replication_factor 3 ----
umask 077
for n in 1 2 3; do
    mkdir -p "$work/g$n/meta" "$work/g$n/data"
    cat >"$work/g$n.toml" <<EOF
metadata_dir = "$work/g$n/meta"
data_dir = "$work/g$n/data"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:$(rpc_port "$n")"
rpc_public_addr = "127.0.0.1:$(rpc_port "$n")"
rpc_secret = "$secret"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$(s3_port "$n")"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$(admin_port "$n")"
EOF
    chmod 600 "$work/g$n.toml"
done
umask 022
g() { "$garage" -c "$work/g$1.toml" "${@:2}"; }

start_garage() {
    # A simple command, not the function g: $! must be garage itself, not a subshell around it.
    "$garage" -c "$work/g$1.toml" server >>"$work/g$1.log" 2>&1 &
    pid[garage$1]=$!
}

say "garage $("$garage" --version 2>/dev/null | head -1 || true), ferryd $("$ferryd" --version 2>/dev/null || true), work folder $work"
for n in 1 2 3; do
    start_garage "$n"
done
for n in 1 2 3; do
    retry 60 g "$n" status >/dev/null || die "garage node $n did not come up; log: $work/g$n.log"
    [[ $(readlink "/proc/${pid[garage$n]}/exe") == "$(readlink -f "$garage")" ]] ||
        die "PID ${pid[garage$n]} is not garage node $n"
done
say "3 Garage nodes up (S3 ports $(s3_port 1), $(s3_port 2), $(s3_port 3))"
declare -A id=()
for n in 1 2 3; do
    id[$n]=$(g "$n" node id -q 2>/dev/null | cut -c1-64)
done
step g 1 node connect "${id[2]}@127.0.0.1:$(rpc_port 2)"
step g 1 node connect "${id[3]}@127.0.0.1:$(rpc_port 3)"
for n in 1 2 3; do
    step g 1 layout assign -z "dc$n" -c 1G "${id[$n]:0:16}"
done
step g 1 layout apply --version 1
step retry 60 g 1 bucket create "$BUCKET"
step g 1 key import --yes "$key_id" "$key_secret" -n ferry-key
step g 1 bucket allow --read --write --owner "$BUCKET" --key ferry-key

# ---- Two ferryd nodes on that bucket, each talking to its own Garage node ----
users=$work/users.toml
echo "$ftp_password" | "$ferryd" user add demo --users "$users" --password-stdin >/dev/null
for n in 1 2; do
    AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$key_secret "$ferryd" \
        --bind "127.0.0.1:$(ftp_port "$n")" --users "$users" \
        --storage "s3://$BUCKET/files" --s3-endpoint "http://127.0.0.1:$(s3_port "$n")" \
        --s3-region "$REGION" >>"$work/ferryd$n.log" 2>&1 &
    pid[ferryd$n]=$!
done
for n in 1 2; do
    retry 60 curl -sS --fail -u "demo:$ftp_password" "ftp://127.0.0.1:$(ftp_port "$n")/" >/dev/null ||
        die "ferryd node $n did not answer; log: $work/ferryd$n.log"
done
say "ferryd node 1 on 127.0.0.1:$(ftp_port 1) -> Garage node 1, node 2 on 127.0.0.1:$(ftp_port 2) -> Garage node 2 (s3://$BUCKET/files)"

head -c $((SIZE_MIB << 20)) /dev/urandom >"$work/big.bin"
ftp() { echo "ftp://127.0.0.1:$(ftp_port "$1")/$2"; }
up() { curl -sS --fail -u "demo:$ftp_password" -T "$work/$2" "$(ftp "$1" "$2")"; }
down() { curl -sS --fail -u "demo:$ftp_password" -o "$work/$2.from$1" "$(ftp "$1" "$2")" && cmp "$work/$2" "$work/$2.from$1"; }
listed() { curl -sS --fail -u "demo:$ftp_password" -l "$(ftp "$1" "")" | tr -d '\r' | grep -qx "$2"; }
gone() { ! listed "$1" "$2"; }
# A SigV4-signed GET straight to a Garage node's S3 API (not through ferryd).
garage_get() {
    curl -sS --fail -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:$REGION:s3" \
        --user "$key_id:$key_secret" -o "$work/$2.garage$1" \
        "http://127.0.0.1:$(s3_port "$1")/$BUCKET/files/$2" && cmp "$work/$2" "$work/$2.garage$1"
}

say "--- all 3 Garage nodes up: store through ferryd 1, list and fetch through ferryd 2 ---"
step up 1 big.bin
step listed 2 big.bin
step down 2 big.bin

say "--- kill -9 Garage node 3 (quorum is 2 of 3) ---"
step kill -9 "${pid[garage3]}"
{ wait "${pid[garage3]}" || true; } 2>/dev/null
unset 'pid[garage3]'
node3_failed() { g 1 status 2>/dev/null | grep -q 'FAILED NODES'; }
SHOW=1 step retry 60 node3_failed # until Garage itself lists node 3 as failed
SHOW=1 step g 1 status
head -c 4096 /dev/urandom >"$work/small.bin"
head -c $((SIZE_MIB << 20)) /dev/urandom >"$work/after.bin"
step up 1 small.bin
step up 1 after.bin
step listed 2 small.bin
step listed 2 after.bin
step down 2 small.bin
step down 2 after.bin
step down 2 big.bin
# Folders, rename (copy + delete on S3), append (UploadPartCopy) and delete, still with 2 of 3.
q() { curl -sS --fail -u "demo:$ftp_password" -o /dev/null "${@:2}" "$(ftp "$1" "")"; }
step q 1 -Q "MKD docs"
step q 1 -Q "RNFR small.bin" -Q "RNTO docs/moved.bin"
append() { curl -sS --fail -u "demo:$ftp_password" -T "$work/$2" --append "$(ftp "$1" "$3")"; }
step append 1 small.bin docs/moved.bin
mkdir "$work/docs"
cat "$work/small.bin" "$work/small.bin" >"$work/docs/moved.bin" # what it holds now
step down 2 docs/moved.bin
step q 2 -Q "DELE after.bin"
step gone 1 after.bin

if [[ $RESTART == 1 ]]; then
    say "--- restart Garage node 3; it serves what was written while it was down ---"
    start_garage 3
    SHOW=1 step retry 120 g 3 status
    SHOW=1 step retry 120 garage_get 3 big.bin
    SHOW=1 step retry 120 garage_get 3 docs/moved.bin
    step listed 2 big.bin
    step gone 2 after.bin
    SHOW=1 step g 1 status
fi
say "done: every step passed"
