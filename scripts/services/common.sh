# shellcheck shell=bash
# Shared settings and helpers for start.sh, stop.sh and status.sh, which source this file.
#
# Every server listens on 127.0.0.1 only. State, logs, PID files and downloaded or
# built programs live under WORKBENCH_SERVICES_DIR, outside the repository.

SERVICES_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SERVICES_SCRIPT_DIR/../.." && pwd)"

SERVICES_DIR="${WORKBENCH_SERVICES_DIR:-$HOME/.cache/workbench-services}"
ALL_SERVICES=(rabbitmq kafka ferretdb)

# Seconds that start.sh waits for one server to pass its readiness check.
READY_TIMEOUT="${WORKBENCH_SERVICES_TIMEOUT:-120}"
# Seconds that stop.sh waits for one process to exit after SIGTERM before it sends SIGKILL.
STOP_TIMEOUT="${WORKBENCH_SERVICES_STOP_TIMEOUT:-60}"

# The interpreter that runs check.py. ensure_check_python installs requirements.txt into it.
SERVICES_PYTHON="${WORKBENCH_SERVICES_PYTHON:-$REPO_DIR/.venv/bin/python}"

RABBITMQ_PORT="${WORKBENCH_RABBITMQ_PORT:-5672}"
# RabbitMQ's own default for the Erlang distribution port is the AMQP port + 20000.
RABBITMQ_DIST_PORT="${WORKBENCH_RABBITMQ_DIST_PORT:-$((RABBITMQ_PORT + 20000))}"
EPMD_PORT="${WORKBENCH_EPMD_PORT:-4369}"
KAFKA_PORT="${WORKBENCH_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${WORKBENCH_KAFKA_CONTROLLER_PORT:-9093}"
MONGODB_PORT="${WORKBENCH_MONGODB_PORT:-27017}"

RABBITMQ_URL="amqp://guest:guest@127.0.0.1:${RABBITMQ_PORT}/"
KAFKA_URL="kafka://127.0.0.1:${KAFKA_PORT}"
MONGODB_URL="mongodb://127.0.0.1:${MONGODB_PORT}/workbench"

log() {
    printf '[services] %s\n' "$*" >&2
}

die() {
    printf '[services] error: %s\n' "$*" >&2
    exit 1
}

# Set REQUESTED_SERVICES to the services named in the arguments, in order and without
# repeats, or to all of them for "all" or no argument. Exits on an unknown name.
parse_services() {
    local names=("$@") name known
    if [ "${#names[@]}" -eq 0 ]; then
        names=(all)
    fi

    REQUESTED_SERVICES=()
    for name in "${names[@]}"; do
        case "$name" in
            all) ;;
            rabbitmq | kafka | ferretdb) ;;
            *) die "unknown service '$name': use rabbitmq, kafka, ferretdb or all" ;;
        esac

        for known in "${ALL_SERVICES[@]}"; do
            if [ "$name" = all ] || [ "$name" = "$known" ]; then
                if ! printf '%s\n' "${REQUESTED_SERVICES[@]}" | grep -qx -- "$known"; then
                    REQUESTED_SERVICES+=("$known")
                fi
            fi
        done
    done
}

service_url() {
    case "$1" in
        rabbitmq) printf '%s\n' "$RABBITMQ_URL" ;;
        kafka) printf '%s\n' "$KAFKA_URL" ;;
        ferretdb) printf '%s\n' "$MONGODB_URL" ;;
    esac
}

# Take an exclusive lock on the state folder so that two start.sh or stop.sh runs
# never start or stop the same server at once. Waits at most $1 seconds.
lock_services_dir() {
    local wait_seconds="$1"

    mkdir -p "$SERVICES_DIR"
    exec 9>"$SERVICES_DIR/start-stop.lock"
    if ! flock -w "$wait_seconds" 9; then
        die "timed out after ${wait_seconds}s waiting for the lock $SERVICES_DIR/start-stop.lock held by another start.sh or stop.sh"
    fi
}

# Succeed when the PID in file $1 is a live process whose command line contains $2.
# The match guards against a PID that the kernel reused for an unrelated process.
pid_file_alive() {
    local pid_file="$1" pattern="$2" pid

    [ -s "$pid_file" ] || return 1
    pid="$(cat "$pid_file")"
    case "$pid" in
        '' | *[!0-9]*) return 1 ;;
    esac
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

# Print the PID stored in file $1.
read_pid() {
    cat "$1"
}

# Succeed when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print the `ss` line, with process name and PID, of the socket listening on port $1.
# Prints nothing when ss is not installed.
describe_listener() {
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$1" 2>/dev/null | head -n 1
    fi
}

# Fail when a port that a server is about to use is already taken by a process
# that this script did not start.
require_port_free() {
    local port="$1" setting="$2"

    if port_in_use "$port"; then
        die "port 127.0.0.1:$port is already in use by a process that start.sh did not start ($(describe_listener "$port")). Stop that process or choose another port with $setting."
    fi
}

# Start a command in its own session, detached from the terminal, with stdout and
# stderr appended to file $1. Writes the PID to file $2.
spawn_detached() {
    local out_file="$1" pid_file="$2"
    shift 2

    # setsid does not fork here, because a background job of a non-interactive
    # shell is not a process group leader, so $! is the server's own PID. The server
    # must not inherit descriptor 9, or it would hold the start/stop lock while it runs.
    setsid "$@" >>"$out_file" 2>&1 </dev/null 9>&- &
    printf '%s\n' "$!" >"$pid_file"
}

# Send SIGTERM to the PID in file $1 if it matches pattern $2, wait up to
# STOP_TIMEOUT seconds, then send SIGKILL. Removes the PID file.
stop_pid_file() {
    local pid_file="$1" pattern="$2" name="$3" pid waited=0

    if ! pid_file_alive "$pid_file" "$pattern"; then
        rm -f "$pid_file"
        return 0
    fi

    pid="$(read_pid "$pid_file")"
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true

    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$STOP_TIMEOUT" ]; do
        sleep 1
        waited=$((waited + 1))
    done

    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) did not exit ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 10 ]; do
            sleep 1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            die "$name (pid $pid) is still running after SIGKILL"
        fi
    fi

    rm -f "$pid_file"
    log "$name stopped"
}

# Print the resident set size of PID $1 in MiB, or "?" when the process is gone.
rss_mib() {
    local kib
    kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null)"
    if [ -n "$kib" ]; then
        printf '%d MiB\n' "$((kib / 1024))"
    else
        printf '?\n'
    fi
}

# Install Debian packages $@ with apt-get. Needs root.
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        die "missing Debian packages: $*. Install them as root with: apt-get install -y $*"
    fi

    log "installing Debian packages: $*"
    local started_at=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    # stdout of start.sh carries only the URLs, so apt-get writes to stderr.
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
    log "installed $* in $((SECONDS - started_at))s"
}

# Make sure SERVICES_PYTHON exists and can import the readiness-check clients,
# installing requirements.txt with pip when one is missing.
ensure_check_python() {
    if [ ! -x "$SERVICES_PYTHON" ]; then
        die "missing Python interpreter $SERVICES_PYTHON: run 'make venv' first, or set WORKBENCH_SERVICES_PYTHON"
    fi

    if "$SERVICES_PYTHON" -c 'import kafka, pika, pymongo' 2>/dev/null; then
        return 0
    fi

    log "installing the readiness-check clients into $("$SERVICES_PYTHON" -c 'import sys; print(sys.prefix)')"
    PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$SERVICES_PYTHON" -m pip install -q -r "$SERVICES_SCRIPT_DIR/requirements.txt" >&2 ||
        die "pip install -r $SERVICES_SCRIPT_DIR/requirements.txt failed"
}

# Run check.py for service $1 against URL $2. Extra arguments go to check.py.
run_check() {
    local service="$1" url="$2"
    shift 2
    "$SERVICES_PYTHON" "$SERVICES_SCRIPT_DIR/check.py" "$service" "$url" "$@"
}

# Print the last lines of each log file given, to show why a server failed.
show_logs() {
    local file
    for file in "$@"; do
        [ -s "$file" ] || continue
        printf '[services] ---- last lines of %s ----\n' "$file" >&2
        tail -n 25 "$file" >&2
    done
}
