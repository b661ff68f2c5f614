# Start-up shared by the scripts that need the single-node cluster (sourced, not run): takes
# or builds the binary, makes a work folder, starts a throwaway PostgreSQL (tests/cluster/pg.sh)
# and the Slurm node (tests/cluster/slurm-node.sh), and stops both and removes the folder when
# the script exits, however it exits.
#
#   source tests/cluster/lib.sh
#   cluster_up NAME DEFAULT_PGT_PORT    # sets ROOT, BIN, WORK, URL; cds into WORK
#   wait_job JOB_ID [POLL_SECONDS]      # until the job (or array) has left the queue

cluster_up() {
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    cd "$ROOT"
    if [ -z "${AEROCAST_BIN:-}" ]; then
        cargo build --release -q --bin aerocast
        AEROCAST_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/aerocast
    fi
    BIN=$AEROCAST_BIN
    WORK=$(mktemp -d "/tmp/aerocast-$1.XXXXXX")
    chmod 755 "$WORK"
    export PGT_DIR=$WORK/pg PGT_PORT=${PGT_PORT:-$2}
    trap cluster_down EXIT
    URL=$("$ROOT/tests/cluster/pg.sh" start 2>/dev/null)
    "$ROOT/tests/cluster/slurm-node.sh" start 2>/dev/null
    # A database store's artifacts are cached per machine; keep this run's apart.
    export AEROCAST_CACHE=$WORK/cache
    cd "$WORK"
}

cluster_down() {
    "$ROOT/tests/cluster/slurm-node.sh" stop || true
    "$ROOT/tests/cluster/pg.sh" stop || true
    rm -rf "$WORK"
}

wait_job() {
    while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do sleep "${2:-0.5}"; done
}
