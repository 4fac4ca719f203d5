#!/bin/sh
# The container's entry point: checks the environment, then `exec connector "$@"`, so the
# connector is PID 1's replacement and receives SIGTERM itself (docs/operations.md,
# "Container and Kubernetes").
#
# Checks, each a configuration mistake (exit 2, nothing started):
# - not root: the image runs as uid 10001; `id -u` = 0 is refused.
# - a config file, else the settings as variables. The file is `--config PATH` (left to the
#   connector), else $CONNECTOR_CONFIG (must be a readable file), else /config/connector.toml
#   (or $CONNECTOR_CONFIG_DEFAULT: another mount point, and the tests' temp folder) when it
#   exists, then exported as CONNECTOR_CONFIG. Without a file the environment must
#   name the HubSpot token, the Salesforce sign-in and the state store, because the image's
#   own filesystem is no place for state. Commands that need no accounts (--help, --version,
#   sandbox, demo, mappings) skip this check.
# - `serve` listens on 0.0.0.0 (CONNECTOR_SERVE__HOST, unless set): 127.0.0.1 inside a
#   container is unreachable from the probes and the Service.
# The connector validates every setting itself (exit 2 naming key, file and variable); these
# checks only catch what is particular to a container, before Python starts.
set -eu

CONFIG_DEFAULT="${CONNECTOR_CONFIG_DEFAULT:-/config/connector.toml}"

refuse() {
    printf 'docker-entrypoint: %s\n' "$1" >&2
    exit 2
}

if [ "$(id -u)" = "0" ]; then
    refuse "refusing to run as root (uid 0): run the image as its own user (uid 10001, the \
image's USER) or set a non-zero runAsUser / --user"
fi

# The command: the first argument that is not a global option (--config takes a value).
command=""
config_arg=""
expect_config=""
for arg in "$@"; do
    if [ -n "$expect_config" ]; then
        config_arg="$arg"
        expect_config=""
        continue
    fi
    case "$arg" in
        --config) expect_config=1 ;;
        --config=*) config_arg="${arg#--config=}" ;;
        -*) ;;
        *) command="$arg"; break ;;
    esac
done

case "$command" in
    ""|sandbox|demo|mappings|help) needs_accounts="" ;;
    *) needs_accounts=1 ;;
esac
for arg in "$@"; do
    case "$arg" in
        -h|--help|--version) needs_accounts="" ;;
    esac
done

set_in_env() {  # set_in_env NAME...: true when one of the variables is set and not empty
    for name in "$@"; do
        eval "value=\${$name:-}"
        if [ -n "$value" ]; then
            return 0
        fi
    done
    return 1
}

if [ -n "$needs_accounts" ] && [ -z "$config_arg" ]; then
    if [ -n "${CONNECTOR_CONFIG:-}" ]; then
        if [ ! -f "$CONNECTOR_CONFIG" ] || [ ! -r "$CONNECTOR_CONFIG" ]; then
            refuse "CONNECTOR_CONFIG=$CONNECTOR_CONFIG is not a readable file (mount the \
ConfigMap or file there, or unset CONNECTOR_CONFIG to use $CONFIG_DEFAULT)"
        fi
    elif [ -e "$CONFIG_DEFAULT" ]; then
        if [ ! -f "$CONFIG_DEFAULT" ] || [ ! -r "$CONFIG_DEFAULT" ]; then
            refuse "$CONFIG_DEFAULT exists but is not a readable file for uid $(id -u)"
        fi
        export CONNECTOR_CONFIG="$CONFIG_DEFAULT"
    else
        missing=""
        if ! set_in_env CONNECTOR_HUBSPOT__ACCESS_TOKEN CONNECTOR_HUBSPOT__ACCESS_TOKEN_FILE \
            CONNECTOR_HUBSPOT; then
            missing="$missing
  - CONNECTOR_HUBSPOT__ACCESS_TOKEN_FILE (or CONNECTOR_HUBSPOT__ACCESS_TOKEN): the HubSpot token"
        fi
        if ! env | grep -q '^CONNECTOR_SALESFORCE\(__[A-Z_]*\)\{0,1\}=.'; then
            missing="$missing
  - CONNECTOR_SALESFORCE__AUTH and the sign-in it needs (CONNECTOR_SALESFORCE__USERNAME, \
CONNECTOR_SALESFORCE__CONSUMER_KEY, CONNECTOR_SALESFORCE__PRIVATE_KEY_FILE, ...)"
        fi
        if ! set_in_env CONNECTOR_STATE__URL CONNECTOR_STATE__PATH CONNECTOR_STATE; then
            missing="$missing
  - CONNECTOR_STATE__URL (PostgreSQL), or CONNECTOR_STATE__PATH on a mounted volume: the \
image's filesystem is no place for state"
        fi
        if [ -n "$missing" ]; then
            refuse "no config file ($CONFIG_DEFAULT absent, CONNECTOR_CONFIG unset, no \
--config) and the environment lacks:$missing"
        fi
    fi
fi

if [ "$command" = "serve" ] && [ -z "${CONNECTOR_SERVE__HOST:-}" ]; then
    export CONNECTOR_SERVE__HOST=0.0.0.0
fi

exec connector "$@"
