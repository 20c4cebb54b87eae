#!/bin/sh
# Entry point of the orbital-scheduler image: one image, the role is the first argument.
#   orbit-scheduler [FLAGS]   the scheduler (see orbit-scheduler --help)
#   orbit-agent [FLAGS]       the agent of one satellite (see orbit-agent --help)
#   orbitctl [ARGS]           the CLI, e.g. `orbitctl --scheduler scheduler:50051 sats`
#   orbit-certs [FLAGS]       the certificates of a stack (compose's one-shot `certs` service):
#       orbit-certs --pki DIR [--host NAME]... [--owner UID:GID]
#                   [--scheduler DIR] [--satellite ID:DIR]... [--user NAME:ROLE:DIR]...
#     creates the CA in --pki (with `orbitctl certs init`) unless it holds one, issues every
#     named certificate that --pki lacks (`orbitctl certs issue`), and copies each one with
#     ca.pem into its DIR: cert.pem and key.pem for the scheduler and a satellite,
#     user-NAME.pem and user-NAME-key.pem for a user. Copies are owned by --owner (default
#     10001:10001, the image's user), keys 0600, certificates 0644, DIR 0700; each file is
#     replaced by a rename, never seen half written. Existing certificates are kept.
# orbit-agent without --satellite takes the id from $ORBIT_SATELLITE, or else from the file
# named by $ORBIT_SATELLITE_FILE (the Kubernetes init container writes it from the pod's
# ordinal). With $ORBIT_WAIT_FILES (paths separated by spaces) the scheduler, an agent and
# orbitctl first wait up to $ORBIT_WAIT_S seconds (default 120) for each file to exist (the
# certificates the certs service writes; compose engines that ignore
# `condition: service_completed_successfully` start them together). Signals reach the
# process directly (exec), which stops cleanly on SIGTERM.
set -eu
set -f # no globbing of flag values

usage() {
    echo "usage: orbit-entrypoint orbit-scheduler|orbit-agent|orbitctl|orbit-certs [ARGS...]" >&2
    exit 64
}

die() {
    echo "orbit-entrypoint: $*" >&2
    exit "${2:-64}"
}

wait_files() {
    [ -n "${ORBIT_WAIT_FILES:-}" ] || return 0
    limit="${ORBIT_WAIT_S:-120}"
    case "$limit" in
    '' | *[!0-9]* | ???????*) die "ORBIT_WAIT_S: expected whole seconds (at most 999999), got '$limit'" ;;
    esac
    waited=0
    for f in $ORBIT_WAIT_FILES; do
        while [ ! -s "$f" ]; do
            if [ "$waited" -ge "$limit" ]; then
                echo "orbit-entrypoint: $f did not appear within $limit s (has the certs service run? see deploy/README.md)" >&2
                exit 75
            fi
            sleep 1
            waited=$((waited + 1))
        done
    done
}

# put SRC DEST MODE: copy SRC to DEST through a private temporary file and a rename.
put() {
    tmp="$2.tmp.$$"
    (umask 077 && cp "$1" "$tmp")
    chmod "$3" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$2"
}

# publish DIR CERT KEY CERT_NAME KEY_NAME: the CA, a certificate and its key into DIR.
publish() {
    mkdir -p "$1"
    chown "$owner" "$1"
    chmod 0700 "$1"
    put "$pki/ca.pem" "$1/ca.pem" 0644
    put "$2" "$1/$4" 0644
    put "$3" "$1/$5" 0600
    echo "orbit-certs: $1/$4 ($(basename "$2"))"
}

# check NAME WHAT: a satellite id or user name as `orbitctl certs` accepts it.
check_name() {
    case "$1" in
    '' | [!A-Za-z0-9]* | *[!A-Za-z0-9._-]*) die "orbit-certs: $2 '$1': use letters, digits, '.', '_' or '-', starting with a letter or digit" ;;
    esac
}

certs() {
    pki="" owner="10001:10001" hosts="" targets=""
    while [ "$#" -gt 0 ]; do
        case "$1" in
        --*=*) flag="${1%%=*}" value="${1#*=}" ;;
        --pki | --host | --owner | --scheduler | --satellite | --user)
            [ "$#" -ge 2 ] || die "orbit-certs: $1 needs a value"
            flag="$1" value="$2"
            shift
            ;;
        *) die "orbit-certs: unexpected argument '$1' (see the head of this script)" ;;
        esac
        shift
        case "$value" in
        *[[:space:]]*) die "orbit-certs: $flag '$value': no spaces allowed" ;;
        esac
        case "$flag" in
        --pki) pki="$value" ;;
        --host) hosts="$hosts --host $value" ;;
        --owner)
            case "$value" in
            *[!0-9:]* | *:*:* | :* | *:) die "orbit-certs: --owner: expected UID:GID, got '$value'" ;;
            *:*) owner="$value" ;;
            *) die "orbit-certs: --owner: expected UID:GID, got '$value'" ;;
            esac
            ;;
        --scheduler) targets="$targets scheduler:$value" ;;
        --satellite)
            case "$value" in *:?*) ;; *) die "orbit-certs: --satellite: expected ID:DIR, got '$value'" ;; esac
            check_name "${value%%:*}" "satellite id"
            targets="$targets satellite:$value"
            ;;
        --user)
            case "$value" in *:*:?*) ;; *) die "orbit-certs: --user: expected NAME:ROLE:DIR, got '$value'" ;; esac
            check_name "${value%%:*}" "user name"
            rest="${value#*:}"
            case "${rest%%:*}" in
            viewer | submitter | operator) ;;
            *) die "orbit-certs: --user $value: the role is viewer, submitter or operator" ;;
            esac
            targets="$targets user:$value"
            ;;
        *) die "orbit-certs: unknown flag $flag" ;;
        esac
    done
    [ -n "$pki" ] || die "orbit-certs: --pki DIR is required"
    [ -n "$targets" ] || die "orbit-certs: name at least one --scheduler, --satellite or --user"
    mkdir -p "$pki"
    chmod 0700 "$pki"
    if [ ! -e "$pki/ca.pem" ]; then
        # shellcheck disable=SC2086 # $hosts: flags without spaces, split on purpose
        orbitctl certs init --dir "$pki" $hosts >/dev/null
        echo "orbit-certs: new CA in $pki"
    fi
    for target in $targets; do
        kind="${target%%:*}" spec="${target#*:}"
        case "$kind" in
        scheduler)
            publish "$spec" "$pki/scheduler.pem" "$pki/scheduler-key.pem" cert.pem key.pem
            ;;
        satellite)
            id="${spec%%:*}" dir="${spec#*:}"
            [ -e "$pki/satellite-$id.pem" ] || orbitctl certs issue --dir "$pki" --satellite "$id" >/dev/null
            publish "$dir" "$pki/satellite-$id.pem" "$pki/satellite-$id-key.pem" cert.pem key.pem
            ;;
        user)
            name="${spec%%:*}" rest="${spec#*:}"
            role="${rest%%:*}" dir="${rest#*:}"
            [ -e "$pki/user-$name.pem" ] || orbitctl certs issue --dir "$pki" --user "$name" --role "$role" >/dev/null
            publish "$dir" "$pki/user-$name.pem" "$pki/user-$name-key.pem" "user-$name.pem" "user-$name-key.pem"
            ;;
        esac
    done
}

[ "$#" -ge 1 ] || usage
role="$1"
case "$role" in
orbit-scheduler | orbitctl)
    wait_files
    exec "$@"
    ;;
orbit-certs)
    shift
    certs "$@"
    ;;
orbit-agent)
    shift
    wait_files
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
