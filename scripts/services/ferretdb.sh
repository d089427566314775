# shellcheck shell=bash
# FerretDB v1 with its SQLite backend, a MongoDB-protocol server, built from the
# small Go program in ferretdb/ that embeds FerretDB's public ferretdb package.
# Source it after common.sh.
#
# Listener: 127.0.0.1:MONGODB_PORT. The program rejects any non-loopback address.

FERRETDB_STATE="$SERVICES_DIR/ferretdb"
FERRETDB_SOURCE="$SERVICES_SCRIPT_DIR/ferretdb"
FERRETDB_BIN="$FERRETDB_STATE/bin/workbench-ferretdb"
FERRETDB_PID_FILE="$FERRETDB_STATE/ferretdb.pid"
FERRETDB_LOG="$FERRETDB_STATE/logs/ferretdb.log"
# The oldest Go release that FerretDB v1.24's go.mod accepts.
FERRETDB_MIN_GO_MINOR=24

ferretdb_source_hash() {
    cat "$FERRETDB_SOURCE/go.mod" "$FERRETDB_SOURCE/go.sum" "$FERRETDB_SOURCE/main.go" | sha256sum | cut -d' ' -f1
}

ferretdb_require_go() {
    command -v go >/dev/null 2>&1 ||
        die "missing Go toolchain: install Go 1.$FERRETDB_MIN_GO_MINOR or newer and put 'go' on PATH"

    local version minor
    version="$(go env GOVERSION)"
    minor="$(printf '%s\n' "$version" | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p')"
    # Go 1.21 and newer download the toolchain that go.mod requires through the
    # module proxy, so only older releases are rejected.
    if [ -z "$minor" ] || [ "$minor" -lt 21 ]; then
        die "Go $version is too old to build FerretDB: install Go 1.$FERRETDB_MIN_GO_MINOR or newer"
    fi
}

# Build the server into FERRETDB_BIN, unless it was already built from the current sources.
ferretdb_install() {
    local source_hash
    source_hash="$(ferretdb_source_hash)"
    if [ -x "$FERRETDB_BIN" ] && [ -f "$FERRETDB_BIN.sha256" ] &&
        [ "$(cat "$FERRETDB_BIN.sha256")" = "$source_hash" ]; then
        return 0
    fi

    ferretdb_require_go
    mkdir -p "$FERRETDB_STATE/bin" "$FERRETDB_STATE/logs"
    log "building FerretDB into $FERRETDB_BIN (log: $FERRETDB_STATE/logs/build.log)"

    local started_at=$SECONDS
    # Pure-Go SQLite driver, so cgo is not needed. The PostgreSQL backend is left
    # out because only the SQLite one is used.
    if ! (cd "$FERRETDB_SOURCE" &&
        CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false \
            -tags ferretdb_no_postgresql -o "$FERRETDB_BIN.new" .) \
        >"$FERRETDB_STATE/logs/build.log" 2>&1; then
        show_logs "$FERRETDB_STATE/logs/build.log"
        die "go build failed in $FERRETDB_SOURCE. See $FERRETDB_STATE/logs/build.log"
    fi

    mv "$FERRETDB_BIN.new" "$FERRETDB_BIN"
    printf '%s\n' "$source_hash" >"$FERRETDB_BIN.sha256"
    log "built FerretDB in $((SECONDS - started_at))s"
}

ferretdb_running() {
    pid_file_alive "$FERRETDB_PID_FILE" "$FERRETDB_BIN"
}

ferretdb_start() {
    if ferretdb_running; then
        log "ferretdb is already running (pid $(read_pid "$FERRETDB_PID_FILE")); checking it"
        return 0
    fi
    rm -f "$FERRETDB_PID_FILE"

    ferretdb_install
    require_port_free "$MONGODB_PORT" WORKBENCH_MONGODB_PORT
    mkdir -p "$FERRETDB_STATE/data" "$FERRETDB_STATE/logs"

    log "starting ferretdb on 127.0.0.1:$MONGODB_PORT (log: $FERRETDB_LOG)"
    spawn_detached "$FERRETDB_LOG" "$FERRETDB_PID_FILE" \
        "$FERRETDB_BIN" -listen "127.0.0.1:$MONGODB_PORT" -data-dir "$FERRETDB_STATE/data"
}

ferretdb_pid() {
    read_pid "$FERRETDB_PID_FILE"
}

ferretdb_logs() {
    printf '%s\n' "$FERRETDB_LOG"
}

ferretdb_memory() {
    printf 'RSS %s\n' "$(rss_mib "$(ferretdb_pid)")"
}

ferretdb_stop() {
    stop_pid_file "$FERRETDB_PID_FILE" "$FERRETDB_BIN" ferretdb
}
