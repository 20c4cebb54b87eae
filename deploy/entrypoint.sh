#!/bin/sh
# Entry point of the orbital-scheduler image: one image, the role is the first argument.
#   orbit-scheduler [FLAGS]   the scheduler (see orbit-scheduler --help)
#   orbit-agent [FLAGS]       the agent of one satellite (see orbit-agent --help)
#   orbitctl [ARGS]           the CLI, e.g. `orbitctl --scheduler scheduler:50051 sats`
# orbit-agent without --satellite takes the id from $ORBIT_SATELLITE, or else from the file
# named by $ORBIT_SATELLITE_FILE (the Kubernetes init container writes it from the pod's
# ordinal). Signals reach the process directly (exec), which stops cleanly on SIGTERM.
set -eu

usage() {
    echo "usage: orbit-entrypoint orbit-scheduler|orbit-agent|orbitctl [ARGS...]" >&2
    exit 64
}

[ "$#" -ge 1 ] || usage
role="$1"
case "$role" in
orbit-scheduler | orbitctl)
    exec "$@"
    ;;
orbit-agent)
    shift
    for arg in "$@"; do
        case "$arg" in
        --satellite | --satellite=* | -h | --help) exec orbit-agent "$@" ;;
        esac
    done
    sat="${ORBIT_SATELLITE:-}"
    if [ -z "$sat" ] && [ -n "${ORBIT_SATELLITE_FILE:-}" ]; then
        sat="$(cat "$ORBIT_SATELLITE_FILE")"
    fi
    if [ -z "$sat" ]; then
        echo "orbit-entrypoint: orbit-agent needs --satellite, ORBIT_SATELLITE or ORBIT_SATELLITE_FILE" >&2
        exit 64
    fi
    exec orbit-agent --satellite "$sat" "$@"
    ;;
*)
    echo "orbit-entrypoint: unknown role '$role'" >&2
    usage
    ;;
esac
