#!/bin/sh
# worst_group.sh -- fail a CI job when any group of samples (a language, a source, a
# customer...) scores worse than a limit, even when the overall loss looks fine.
#
# usage: worst_group.sh PREDICTIONS COLUMNS [XENT SCORE OPTIONS...]
#
#   PREDICTIONS   the model's predictions (any input xent reads)
#   COLUMNS       the column, or comma list of columns, naming each row's group
#                 (xent score --by), e.g. lang or lang,source
#   OPTIONS       passed on to `xent score`, e.g. --labels y.csv --id-col id
#
# Environment (all optional):
#   MAX_GROUP_LOSS  the highest loss a group may have, in the report's unit; default 1.0
#   MIN_GROUP_SIZE  groups with fewer rows are listed in the report but not gated
#                   (too few samples to judge); default 30
#   TOP_GROUPS      how many of the worst groups the report lists (0: all); default 10
#   REPORT          where the Markdown report goes (default xent-groups.md); it is
#                   appended to $GITHUB_STEP_SUMMARY when that is set
#   XENT            the xent command (default xent; e.g. XENT="python -m xent")
#
# Exit status, as xent's own:
#   0      every group big enough to judge is within MAX_GROUP_LOSS
#   1      REGRESSION: a group is above it (xent names it on stderr), or no group has
#          MIN_GROUP_SIZE rows -- look at the model, or at the data
#   2 3 4  BROKEN INPUT: bad option, unreadable file, invalid data -- look at the job;
#          the model was not judged and no report is written
#   other  xent itself failed (70: a bug in xent; 130: interrupted)
#
# Example:
#   MAX_GROUP_LOSS=1.0 MIN_GROUP_SIZE=3 ./worst_group.sh examples/langs.csv lang

set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 PREDICTIONS COLUMNS [XENT SCORE OPTIONS...]" >&2
    exit 2
fi
predictions=$1
columns=$2
shift 2
report=${REPORT:-xent-groups.md}
limit=${MAX_GROUP_LOSS:-1.0}
min_size=${MIN_GROUP_SIZE:-30}

# Gate options go after the caller's own options.
set -- "$predictions" "$@" --by "$columns" --top-groups "${TOP_GROUPS:-10}" \
    --max-group-loss "$limit" --min-group-size "$min_size"

rm -f "$report" # never leave a stale report from an earlier run
status=0
# xent prints one line per failed gate on stderr and writes the full report either way.
# shellcheck disable=SC2086  # $XENT may be a command with arguments
${XENT:-xent} score "$@" --format markdown --output "$report" || status=$?

case $status in
    0)
        echo "worst_group: PASS: every group of $columns in $predictions is within $limit (report: $report)"
        ;;
    1)
        echo "worst_group: FAIL: a group of $columns in $predictions is above $limit, or none has $min_size rows; see the lines above and $report" >&2
        ;;
    2 | 3 | 4)
        echo "worst_group: ERROR: broken input (xent exit $status): the model was not judged; fix the job" >&2
        ;;
    *)
        echo "worst_group: ERROR: xent failed (exit $status)" >&2
        ;;
esac

if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$report" ]; then
    cat "$report" >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
