# shellcheck shell=bash
# RabbitMQ from Debian's rabbitmq-server package, run as a process that start.sh
# owns rather than as a system service. Source it after common.sh.
#
# Listeners, all on 127.0.0.1: AMQP on RABBITMQ_PORT, Erlang distribution on
# RABBITMQ_DIST_PORT and epmd on EPMD_PORT. No plugins are enabled, so there is no
# management or Prometheus listener.

RABBITMQ_STATE="$SERVICES_DIR/rabbitmq"
RABBITMQ_SERVER_BIN=/usr/lib/rabbitmq/bin/rabbitmq-server
RABBITMQ_NODENAME="workbench@localhost"
# The shell wrapper that start.sh runs. It starts the Erlang VM and stops it on SIGTERM.
RABBITMQ_PID_FILE="$RABBITMQ_STATE/rabbitmq.pid"
# The Erlang VM's own PID, written by the broker.
RABBITMQ_BEAM_PID_FILE="$RABBITMQ_STATE/beam.pid"
# epmd, when start.sh started it.
EPMD_PID_FILE="$RABBITMQ_STATE/epmd.pid"
RABBITMQ_OUT="$RABBITMQ_STATE/log/rabbitmq-server.out"

# Install rabbitmq-server with apt-get without letting the package start a system
# broker, which would listen on every interface.
rabbitmq_install() {
    [ -x "$RABBITMQ_SERVER_BIN" ] && return 0

    # invoke-rc.d runs policy-rc.d before it starts a package's service, and exit
    # code 101 forbids the start. Without it, the postinst starts a system broker.
    local policy=/usr/sbin/policy-rc.d
    local temporary_policy=0
    if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
        printf '#!/bin/sh\n# Written by workbench scripts/services while installing rabbitmq-server.\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        temporary_policy=1
    fi
    # NOTE: where policy-rc.d already exists and allows starts, the package's
    # postinst still starts the system broker. Stop it with its init script.

    # A subshell, so that the temporary policy is removed even when apt_install fails.
    local status=0
    (apt_install rabbitmq-server) || status=$?

    if [ "$temporary_policy" -eq 1 ]; then
        rm -f "$policy"
    fi

    [ "$status" -eq 0 ] || exit "$status"
    [ -x "$RABBITMQ_SERVER_BIN" ] ||
        die "rabbitmq-server is installed but $RABBITMQ_SERVER_BIN is missing"
}

rabbitmq_write_config() {
    mkdir -p "$RABBITMQ_STATE/mnesia" "$RABBITMQ_STATE/log" "$RABBITMQ_STATE/home"

    cat >"$RABBITMQ_STATE/rabbitmq.conf" <<EOF
# Written by scripts/services/start.sh on every start, so edits are overwritten.
listeners.tcp.default = 127.0.0.1:$RABBITMQ_PORT
listeners.ssl = none
# The default guest/guest user may connect only from loopback.
loopback_users.guest = true
log.console = false
log.file.level = info
EOF

    # An empty plugin list, so that no management or Prometheus listener starts.
    printf '[].\n' >"$RABBITMQ_STATE/enabled_plugins"
    # Replaces /etc/rabbitmq/rabbitmq-env.conf, so that system settings do not apply.
    : >"$RABBITMQ_STATE/rabbitmq-env.conf"
}

# Print the environment for the broker as NAME=VALUE lines.
rabbitmq_environment() {
    cat <<EOF
HOME=$RABBITMQ_STATE/home
RABBITMQ_NODENAME=$RABBITMQ_NODENAME
RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
RABBITMQ_NODE_PORT=$RABBITMQ_PORT
RABBITMQ_DIST_PORT=$RABBITMQ_DIST_PORT
RABBITMQ_MNESIA_BASE=$RABBITMQ_STATE/mnesia
RABBITMQ_LOG_BASE=$RABBITMQ_STATE/log
RABBITMQ_PID_FILE=$RABBITMQ_BEAM_PID_FILE
RABBITMQ_CONFIG_FILE=$RABBITMQ_STATE/rabbitmq.conf
RABBITMQ_ENABLED_PLUGINS_FILE=$RABBITMQ_STATE/enabled_plugins
RABBITMQ_CONF_ENV_FILE=$RABBITMQ_STATE/rabbitmq-env.conf
RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}
ERL_EPMD_ADDRESS=127.0.0.1
ERL_EPMD_PORT=$EPMD_PORT
EOF
}

# Start epmd on 127.0.0.1 unless an epmd already responds on EPMD_PORT.
epmd_start() {
    if pid_file_alive "$EPMD_PID_FILE" "epmd"; then
        return 0
    fi
    rm -f "$EPMD_PID_FILE"

    if port_in_use "$EPMD_PORT"; then
        if epmd -port "$EPMD_PORT" -names >/dev/null 2>&1; then
            log "using the epmd that already listens on port $EPMD_PORT ($(describe_listener "$EPMD_PORT"))"
            return 0
        fi
        die "port 127.0.0.1:$EPMD_PORT is in use by a process that is not epmd ($(describe_listener "$EPMD_PORT")). Stop it or set WORKBENCH_EPMD_PORT."
    fi

    spawn_detached "$RABBITMQ_STATE/log/epmd.out" "$EPMD_PID_FILE" \
        epmd -address 127.0.0.1 -port "$EPMD_PORT"

    local waited=0
    until epmd -port "$EPMD_PORT" -names >/dev/null 2>&1; do
        if [ "$waited" -ge 20 ] || ! pid_file_alive "$EPMD_PID_FILE" "epmd"; then
            show_logs "$RABBITMQ_STATE/log/epmd.out"
            die "epmd did not start on 127.0.0.1:$EPMD_PORT. See $RABBITMQ_STATE/log/epmd.out"
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
}

rabbitmq_running() {
    pid_file_alive "$RABBITMQ_PID_FILE" "rabbitmq-server"
}

rabbitmq_start() {
    if rabbitmq_running; then
        log "rabbitmq is already running (pid $(read_pid "$RABBITMQ_PID_FILE")); checking it"
        return 0
    fi
    rm -f "$RABBITMQ_PID_FILE" "$RABBITMQ_BEAM_PID_FILE"

    rabbitmq_install
    require_port_free "$RABBITMQ_PORT" WORKBENCH_RABBITMQ_PORT
    require_port_free "$RABBITMQ_DIST_PORT" WORKBENCH_RABBITMQ_DIST_PORT
    rabbitmq_write_config
    epmd_start

    log "starting rabbitmq on 127.0.0.1:$RABBITMQ_PORT (logs: $RABBITMQ_STATE/log)"
    local environment=()
    mapfile -t environment < <(rabbitmq_environment)
    spawn_detached "$RABBITMQ_OUT" "$RABBITMQ_PID_FILE" \
        env "${environment[@]}" "$RABBITMQ_SERVER_BIN"
}

rabbitmq_pid() {
    read_pid "$RABBITMQ_PID_FILE"
}

rabbitmq_logs() {
    printf '%s\n' "$RABBITMQ_OUT" "$RABBITMQ_STATE/log/$RABBITMQ_NODENAME.log"
}

# Print the RSS of the Erlang VM and of epmd, the processes that use the memory.
rabbitmq_memory() {
    local beam="?" epmd="not started by start.sh"
    if pid_file_alive "$RABBITMQ_BEAM_PID_FILE" "beam"; then
        beam="$(rss_mib "$(read_pid "$RABBITMQ_BEAM_PID_FILE")")"
    fi
    if pid_file_alive "$EPMD_PID_FILE" "epmd"; then
        epmd="$(rss_mib "$(read_pid "$EPMD_PID_FILE")")"
    fi
    printf 'Erlang VM RSS %s, epmd RSS %s\n' "$beam" "$epmd"
}

rabbitmq_stop() {
    stop_pid_file "$RABBITMQ_PID_FILE" "rabbitmq-server" rabbitmq
    # The wrapper stops the Erlang VM on SIGTERM. This call stops a VM left behind
    # when the wrapper itself was killed.
    stop_pid_file "$RABBITMQ_BEAM_PID_FILE" "beam" "rabbitmq Erlang VM"
    stop_pid_file "$EPMD_PID_FILE" "epmd" epmd
}
