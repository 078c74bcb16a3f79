#!/usr/bin/env bash
# bench/run.sh - `make bench`: measures mockhub against the bare broker (the floor) in the same run and
# prints one table (JSON in bench/results/latest.json). `--smoke` (run by `make test`) does a few
# operations of every kind in seconds: exit 0 when everything worked, non-zero on any error; it never
# judges timings. Runs in a private network namespace with its own hub, broker and data dir.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. scripts/node-env.sh
MODE=full
ONLY=""
for a in "$@"; do
    case $a in
    --smoke) MODE=smoke ;;
    --only=*) ONLY=${a#--only=} ;; # comma list of steps: startup,floor,method,twin,conn,query,amqp
    --keep) export MB_KEEP=1 ;;
    *) echo "usage: bench/run.sh [--smoke] [--only=step,...] [--keep]" >&2; exit 2 ;;
    esac
done

# Re-exec in a private network namespace: 443 and 8883 are free there and nothing collides.
if [[ -z ${MB_NETNS:-} ]]; then
    if [[ $(id -u) -eq 0 ]]; then
        exec env MB_NETNS=1 unshare -n "${BASH_SOURCE[0]}" "$@"
    else
        exec env MB_NETNS=1 unshare -rn "${BASH_SOURCE[0]}" "$@"
    fi
fi
ip link set lo up || { echo "bench: cannot bring up lo in the network namespace" >&2; exit 2; }

B=${B:-build}
BIN=$B/bench
MOCKHUB=$B/mockhub

# 10,000 device connections need ~30,000 fds in the bench process (libmosquitto adds a socket pair per
# client) and 10,000+ in the broker, which inherits this limit through the hub.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

if [[ $MODE == smoke ]]; then
    FLOOR_SEQ=100 FLOOR_SECS=0.3 METHOD_DEVICES=10 METHOD_SEQ=50 METHOD_SECS=0.3
    TWIN_DEVICES=4 TWIN_SECS=0.3 DESIRED_N=20 CONN_DEVICES=40 QUERY_TWINS=300 QUERY_RUNS=3 STARTUP_RUNS=1
    AMQP_SEQ=10 AMQP_MSGS=64 AMQP_EVENTS=100
else
    AMQP_SEQ=300 AMQP_MSGS=3000 AMQP_EVENTS=10000
    FLOOR_SEQ=5000 FLOOR_SECS=5 METHOD_DEVICES=1000 METHOD_SEQ=3000 METHOD_SECS=5
    TWIN_DEVICES=64 TWIN_SECS=5 DESIRED_N=1000 CONN_DEVICES=10000 QUERY_TWINS=100000 QUERY_RUNS=20 STARTUP_RUNS=5
fi

WORK=$(mktemp -d /tmp/mockhub-bench.XXXXXX)
chmod 755 "$WORK"
export MB_RESULTS=$WORK/results.jsonl
: >"$MB_RESULTS"
mkdir -p bench/results
PIDS=()
FAILED=()

cleanup() {
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [[ -n ${MB_KEEP:-} ]]; then echo "bench: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

want() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

# step NAME PROGRAM ARGS...: runs one bench program, remembers a failure (non-zero exit).
step() {
    local name=$1 prog=$2
    shift 2
    if [[ ! -x $BIN/$prog ]]; then
        echo "== $name: $BIN/$prog is not built"
        FAILED+=("$name (not built)")
        return 1
    fi
    echo "== $name"
    "$BIN/$prog" "$@"
    local rc=$?
    if [[ $rc -ne 0 ]]; then FAILED+=("$name (exit $rc)"); fi
    return $rc
}

logs_tail() { # after a failure: what the hub and its broker said
    [[ -f $WORK/hub.log ]] || return 0
    echo "---- last lines of the hub log ($WORK/hub.log, copied to bench/results/hub.log)"
    tail -n 25 "$WORK/hub.log"
    cp "$WORK/hub.log" bench/results/hub.log 2>/dev/null || true
}

BROKER_VERSION=$(mosquitto -h 2>/dev/null | head -n1 | sed 's/^mosquitto version /mosquitto /')
echo "mockhub bench ($MODE) in a private network namespace; work dir $WORK"
echo "file limit raised: ulimit -n $NOFILE (bench client, hub and broker)"

# ---- 6. start-up: from `mockhub run` to /health 200 (first start creates CA and certs) ----
if want startup; then
    step startup mh_startup --mockhub="$MOCKHUB" --dir="$WORK/startup" --runs=$STARTUP_RUNS || logs_tail
fi

# ---- 1. floor: bare mosquitto, same binary, no plugin, TLS with the hub's certificate type ----
if want floor; then
    FL=$WORK/floor
    mkdir -p "$FL"
    if [[ -f $WORK/startup/server.pem && -f $WORK/startup/server.key ]]; then
        cp "$WORK/startup/ca.pem" "$WORK/startup/server.pem" "$WORK/startup/server.key" "$FL/"
    else # same key type as mockhub/certs.c: EC P-256
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$FL/ca.key" \
            -out "$FL/ca.pem" -days 2 -subj /CN=bench-ca >/dev/null 2>&1
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$FL/server.key" \
            -out "$FL/server.csr" -subj /CN=localhost >/dev/null 2>&1
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$FL/ext"
        openssl x509 -req -in "$FL/server.csr" -CA "$FL/ca.pem" -CAkey "$FL/ca.key" -CAcreateserial \
            -out "$FL/server.pem" -days 2 -extfile "$FL/ext" >/dev/null 2>&1
    fi
    chmod 644 "$FL"/*
    cat >"$FL/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
persistence false
set_tcp_nodelay true
user root
listener 18830 127.0.0.1
listener 18883 127.0.0.1
certfile $FL/server.pem
keyfile $FL/server.key
CONF
    mosquitto -c "$FL/mosquitto.conf" >"$FL/mosquitto.log" 2>&1 &
    FLOOR_PID=$!
    PIDS+=("$FLOOR_PID")
    sleep 0.3
    step floor_tls mh_floor --server-pid="$FLOOR_PID" --port=18883 --cafile="$FL/ca.pem" --seq=$FLOOR_SEQ --seconds=$FLOOR_SECS
    step floor_tcp mh_floor --server-pid="$FLOOR_PID" --port=18830 --seq=$FLOOR_SEQ --seconds=$FLOOR_SECS
    kill -TERM "$FLOOR_PID" 2>/dev/null && wait "$FLOOR_PID" 2>/dev/null
fi

# ---- 2-5: the hub ----
if want method || want twin || want conn || want query || want amqp; then
    if [[ ! -x $MOCKHUB ]]; then
        echo "== hub: $MOCKHUB is not built"
        FAILED+=("hub (not built)")
    else
        export MOCKHUB_DATA_DIR=$WORK/hub
        "$MOCKHUB" run >"$WORK/hub.log" 2>&1 &
        HUB_PID=$!
        PIDS+=("$HUB_PID")
        HUB=(--data="$WORK/hub" --hub-pid="$HUB_PID")
        ok=0
        for _ in $(seq 1 200); do
            if curl -sk -o /dev/null -w '%{http_code}' https://localhost:443/health 2>/dev/null | grep -q 200; then
                ok=1
                break
            fi
            kill -0 "$HUB_PID" 2>/dev/null || break
            sleep 0.05
        done
        if [[ $ok -ne 1 ]]; then
            echo "== hub did not become healthy within 10 s"
            FAILED+=("hub start")
            logs_tail
        else
            hub_alive() {
                if ! kill -0 "$HUB_PID" 2>/dev/null; then
                    echo "== the hub process exited during the run"
                    FAILED+=("hub died")
                    logs_tail
                    return 1
                fi
            }
            if want method; then
                step method mh_method "${HUB[@]}" --devices=$METHOD_DEVICES --seq=$METHOD_SEQ --seconds=$METHOD_SECS || logs_tail
                hub_alive
            fi
            if want twin && hub_alive; then
                step twin mh_twin "${HUB[@]}" --devices=$TWIN_DEVICES --seconds=$TWIN_SECS --desired=$DESIRED_N || logs_tail
                hub_alive
            fi
            if want conn && hub_alive; then
                step conn mh_connect "${HUB[@]}" --devices=$CONN_DEVICES --hub-pid="$HUB_PID" || logs_tail
                hub_alive
            fi
            if want query && hub_alive; then
                REPORTERS=0
                want conn && REPORTERS=$CONN_DEVICES
                step query mh_query "${HUB[@]}" --twins=$QUERY_TWINS --runs=$QUERY_RUNS --reporters=$REPORTERS || logs_tail
                hub_alive
            fi
            # C2D and the Event Hubs endpoint, driven by Microsoft's Node SDKs (no C AMQP client here)
            if want amqp && hub_alive; then
                echo "== amqp"
                if NODE_PATH=$ROOT/tests/integration/node_modules NODE_EXTRA_CA_CERTS=$WORK/hub/ca.pem \
                    MB_SERVICE_CS=$("$MOCKHUB" connection-string) \
                    MB_EVENTHUB_CS=$("$MOCKHUB" connection-string --eventhub) \
                    node bench/mh_amqp.js --seq=$AMQP_SEQ --msgs=$AMQP_MSGS --events=$AMQP_EVENTS; then :; else
                    FAILED+=("amqp (exit $?)")
                    logs_tail
                fi
                hub_alive
            fi
        fi
    fi
fi

OUT=bench/results/latest.json
[[ $MODE == smoke ]] && OUT=bench/results/smoke.json
"$BIN/mh_report" --in="$MB_RESULTS" --out="$OUT" --mode=$MODE --nofile="$NOFILE" \
    --commit="$(git rev-parse --short HEAD 2>/dev/null)" --broker="$BROKER_VERSION"
report_rc=$?
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "bench: failed steps: ${FAILED[*]}"
    exit 1
fi
exit $report_rc
