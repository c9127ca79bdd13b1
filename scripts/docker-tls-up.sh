#!/usr/bin/env bash
# Start a second Docker engine for the remote-engine tests: dockerd listening only on tcp://127.0.0.1:PORT
# (TTYDPORTS_TLS_PORT, default 23760) with --tlsverify, so that only a client certificate of our test CA gets in.
# Beside the main engine, never in its way: its own data root, exec root (and so its own containerd), pid file and
# daemon.json, no Unix socket, no bridge, no iptables. Certificates are made with openssl in TTYDPORTS_TLS_DIR
# (default /run/ttydports-scripts/tls; it and wrong/ must be folders of root with mode 0700, below folders only root can
# change: checked at every run, whether the certificates are made again or kept; keys 0600):
#   ca.pem cert.pem key.pem                 the client's, laid out as DOCKER_CERT_PATH expects
#   server-cert.pem server-key.pem          the engine's (SAN IP:127.0.0.1, DNS:localhost)
#   wrong/ca.pem cert.pem key.pem           a client certificate of another CA (with our ca.pem, so that it is the
#                                           engine that refuses it); wrong/other-ca.pem is that other CA
# The test image ttydports/busybox:test is copied from the main engine (scripts/docker-up.sh builds it there).
# The pid goes to /run/ttydports-scripts/dockerd-tls.pid (log: /var/lib/ttydports-scripts/dockerd-tls.log), so that
# scripts/docker-tls-down.sh stops only what this started.
# Runs as root; safe to run again.
set -euo pipefail
SCRIPT_NAME=docker-tls-up
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGE=${TTYDPORTS_TEST_IMAGE:-ttydports/busybox:test}
START_TIMEOUT=60
CERT_DAYS=30

require_root
ensure_private_dir "$STATE_DIR"
ensure_private_dir "$LOG_DIR"
apt_install_engine docker.io openssl
need_command ps procps     # `running`; a minimal image has no procps
need_command ss iproute2   # port_taken; a minimal image has no iproute2
DOCKER=$(docker_client)

# 1. Certificates. Made again, all of them, when one is missing or expires within a day (a CA and its leaves
# must match; the CA keys are deleted once used, so nothing can be signed later by accident).
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
new_ca() { # KEY CERT CN
    new_key "$1"
    openssl req -x509 -new -key "$1" -out "$2" -days "$CERT_DAYS" -subj "/CN=$3" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
new_leaf() { # CA_CERT CA_KEY KEY CERT CN EXTENSIONS
    new_key "$3"
    openssl req -new -key "$3" -subj "/CN=$5" 2>/dev/null |
        openssl x509 -req -CA "$1" -CAkey "$2" -set_serial "0x$(openssl rand -hex 16)" -days "$CERT_DAYS" \
            -out "$4" -extfile <(printf '%s\n' "$6") 2>/dev/null
}
# root_file FILE: a regular file (not a link) of root's, with one link, that nobody else can write, and not empty.
root_file() {
    local st uid links mode
    [[ -f $1 && ! -L $1 && -s $1 ]] || return 1
    st=$(stat -c '%u %h %a' -- "$1") || return 1
    read -r uid links mode <<<"$st"
    [[ $uid == 0 && $links == 1 ]] && (( (8#$mode & 8#022) == 0 ))
}
certs_usable() {
    local f
    for f in ca.pem cert.pem key.pem server-cert.pem server-key.pem wrong/ca.pem wrong/cert.pem wrong/key.pem wrong/other-ca.pem; do
        root_file "$TLS_DIR/$f" || return 1
    done
    for f in ca.pem cert.pem server-cert.pem wrong/cert.pem; do
        openssl x509 -checkend 86400 -noout -in "$TLS_DIR/$f" >/dev/null 2>&1 || return 1
    done
}
our_engine_pid() { local p; p=$(read_pid "$TLS_PID_FILE" "$TLS_LEGACY_PID_FILE") && pid_is_tls_dockerd "$p" && echo "$p"; }
# The folder is checked before anything in it is used or made (a folder another user made first, or a link, is refused:
# its CA would be the engine's); wrong/ as well.
ensure_private_dir "$TLS_DIR"
ensure_private_dir "$TLS_DIR/wrong"
if certs_usable; then
    log "certificates in $TLS_DIR"
else
    if pid=$(our_engine_pid); then
        # It trusts the old CA: stop it (with the old certificates it can still remove its test containers).
        log "certificates must be made again; stopping the TLS engine that trusts the old ones (pid $pid)"
        "$(dirname "${BASH_SOURCE[0]}")/docker-tls-down.sh"
    fi
    log "making a test CA, server and client certificates in $TLS_DIR"
    # A folder only root reads; umask so that no key is ever readable by others, not even for a moment.
    umask 077
    # Checked again: the down above may have taken time. Whatever an earlier run left is made anew (rm never follows a
    # link, and openssl then creates each file).
    ensure_private_dir "$TLS_DIR"
    ensure_private_dir "$TLS_DIR/wrong"
    rm -f "$TLS_DIR"/*.pem "$TLS_DIR"/wrong/*.pem
    CA_WORK=$(mktemp -d /tmp/ttydports-tls-ca.XXXXXX)
    trap 'rm -rf "$CA_WORK"' EXIT
    new_ca "$CA_WORK/ca-key.pem" "$TLS_DIR/ca.pem" ttydports-test-ca
    new_leaf "$TLS_DIR/ca.pem" "$CA_WORK/ca-key.pem" "$TLS_DIR/server-key.pem" "$TLS_DIR/server-cert.pem" localhost \
        "$(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature')"
    new_leaf "$TLS_DIR/ca.pem" "$CA_WORK/ca-key.pem" "$TLS_DIR/key.pem" "$TLS_DIR/cert.pem" ttydports-test-client \
        "$(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature')"
    new_ca "$CA_WORK/other-ca-key.pem" "$TLS_DIR/wrong/other-ca.pem" ttydports-wrong-ca
    new_leaf "$TLS_DIR/wrong/other-ca.pem" "$CA_WORK/other-ca-key.pem" "$TLS_DIR/wrong/key.pem" "$TLS_DIR/wrong/cert.pem" \
        ttydports-wrong-client "$(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature')"
    cp "$TLS_DIR/ca.pem" "$TLS_DIR/wrong/ca.pem"
    chmod 0644 "$TLS_DIR"/*.pem "$TLS_DIR"/wrong/*.pem
    chmod 0600 "$TLS_DIR/key.pem" "$TLS_DIR/server-key.pem" "$TLS_DIR/wrong/key.pem"
    umask 022
    certs_usable || die "openssl did not make usable certificates in $TLS_DIR"
fi

# 2. The engine.
engine_answers() { tls_docker version >/dev/null 2>&1; }
wait_for_engine() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until engine_answers; do
        if ! running "$1"; then
            tail -n 30 "$TLS_LOG_FILE" >&2 || true
            die "dockerd (pid $1) exited during startup; see $TLS_LOG_FILE"
        fi
        if (( SECONDS >= deadline )); then
            tail -n 30 "$TLS_LOG_FILE" >&2 || true
            die "TLS engine did not answer within ${START_TIMEOUT}s (dockerd pid $1 left running; scripts/docker-tls-down.sh stops it); see $TLS_LOG_FILE"
        fi
        sleep 0.2
    done
}
port_taken() { ss -Hltn "sport = :$TLS_PORT" | grep -q .; }

if pid=$(our_engine_pid); then
    log "the TLS engine we started earlier (pid $pid) runs; waiting until it answers"
    wait_for_engine "$pid"
else
    rm -f "$TLS_PID_FILE" "$TLS_LEGACY_PID_FILE"
    port_taken && die "something else listens on 127.0.0.1:$TLS_PORT ($(ss -Hltnp "sport = :$TLS_PORT" | head -n 1)); set TTYDPORTS_TLS_PORT"
    mkdir -p "$TLS_DATA_ROOT" "$TLS_EXEC_ROOT"
    chmod 0700 "$TLS_DATA_ROOT" "$TLS_EXEC_ROOT"
    # Our own daemon.json (empty): /etc/docker/daemon.json, should it exist, is the main engine's ("hosts" there
    # would clash with --host here).
    echo '{}' >"$TLS_EXEC_ROOT/daemon.json"
    log "starting dockerd on tcp://127.0.0.1:$TLS_PORT (TLS, vfs, no bridge), log $TLS_LOG_FILE"
    started=${EPOCHREALTIME/./}
    # No --containerd: with its own exec root dockerd supervises its own containerd (socket in that exec root).
    # --cgroup-parent keeps its containers' cgroups apart from the main engine's /docker/.
    env -u DOCKER_HOST setsid nohup dockerd \
        --host "tcp://127.0.0.1:$TLS_PORT" --tlsverify \
        --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/server-cert.pem" --tlskey "$TLS_DIR/server-key.pem" \
        --config-file "$TLS_EXEC_ROOT/daemon.json" \
        --data-root "$TLS_DATA_ROOT" --exec-root "$TLS_EXEC_ROOT" --pidfile "$TLS_EXEC_ROOT/dockerd.pid" \
        --cgroup-parent /ttydports-docker-tls \
        --iptables=false --ip-masq=false --bridge=none --storage-driver=vfs \
        >>"$TLS_LOG_FILE" 2>&1 </dev/null &
    pid=$!
    write_pid "$TLS_PID_FILE" "$pid"
    wait_for_engine "$pid"
    pid_is_tls_dockerd "$pid" || die "pid $pid in $TLS_PID_FILE is not the TLS dockerd this script started ($(cat "/proc/$pid/comm" 2>/dev/null || echo gone))"
    log "TLS engine up (dockerd pid $pid) after $(( (${EPOCHREALTIME/./} - started) / 1000 )) ms"
fi

# 3. Only our client certificate gets in: a certificate of another CA must be refused by the engine.
if out=$(DOCKER_CERT_PATH=$TLS_DIR/wrong DOCKER_TLS_VERIFY=1 DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT \
        env -u DOCKER_CONTEXT "$DOCKER" version --format '{{.Server.Version}}' 2>&1); then
    die "the TLS engine accepted a client certificate of another CA: $out"
fi

# 4. The test image, copied from the main engine (no registry needed).
if tls_docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE present"
else
    "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 \
        || "$(dirname "${BASH_SOURCE[0]}")/docker-up.sh"
    log "loading $IMAGE from the main engine"
    "$DOCKER" save "$IMAGE" | tls_docker load -q >/dev/null || die "docker save | docker load over TLS failed"
fi

# 5. A container runs there (labelled, so that docker-tls-down.sh removes it should it be left behind).
out=$(tls_docker run --rm --label ttydports.test=1 --network none "$IMAGE" sh -c 'echo ok; hostname' 2>&1) \
    || die "test container on the TLS engine failed: $out"
[[ $(head -n 1 <<<"$out") == ok ]] || die "test container on the TLS engine printed unexpected output: $out"
log "ready: DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$TLS_DIR"
