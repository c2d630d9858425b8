#!/bin/sh
# gate.sh -- fail a CI job when a model's predictions score worse than the baseline.
#
# usage: gate.sh PREDICTIONS BASELINE [XENT SCORE OPTIONS...]
#
#   PREDICTIONS   the new model's predictions (any input xent reads)
#   BASELINE      the saved report of the accepted model, made once with
#                 xent score main.csv --format json --output baseline.json
#   OPTIONS       passed on to `xent score`, e.g. --labels y.csv --id-col image
#
# Environment (all optional):
#   MAX_INCREASE    allowed rise of the loss over the baseline: absolute in the report's
#                   unit (0.01) or relative (2%); default 2%
#   MAX_LOSS        also fail when the loss is above this
#   MAX_CLASS_LOSS  also fail when any class's loss is above this
#   REPORT          where the Markdown report goes (default xent-report.md); it is
#                   appended to $GITHUB_STEP_SUMMARY when that is set
#   XENT            the xent command (default xent; e.g. XENT="python -m xent")
#
# Exit status, as xent's own:
#   0      every gate passed
#   1      REGRESSION: scored, and a gate failed -- look at the model
#   2 3 4  BROKEN INPUT: bad option, unreadable file, invalid data -- look at the job;
#          the model was not judged and no report is written
#   other  xent itself failed (70: a bug in xent; 130: interrupted)
#
# Example:
#   MAX_INCREASE=1% ./gate.sh preds/pr.csv baseline.json || echo "not merging"

set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 PREDICTIONS BASELINE [XENT SCORE OPTIONS...]" >&2
    exit 2
fi
predictions=$1
baseline=$2
shift 2
report=${REPORT:-xent-report.md}

# Gate options go after the caller's own options.
set -- "$predictions" "$@" --baseline "$baseline" --max-increase "${MAX_INCREASE:-2%}"
if [ -n "${MAX_LOSS:-}" ]; then
    set -- "$@" --max-loss "$MAX_LOSS"
fi
if [ -n "${MAX_CLASS_LOSS:-}" ]; then
    set -- "$@" --max-class-loss "$MAX_CLASS_LOSS"
fi

rm -f "$report" # never leave a stale report from an earlier run
status=0
# xent prints one line per failed gate on stderr and writes the full report either way.
# shellcheck disable=SC2086  # $XENT may be a command with arguments
${XENT:-xent} score "$@" --format markdown --output "$report" || status=$?

case $status in
    0)
        echo "gate: PASS: $predictions is within ${MAX_INCREASE:-2%} of $baseline (report: $report)"
        ;;
    1)
        echo "gate: FAIL: $predictions regressed against $baseline; see the lines above and $report" >&2
        ;;
    2 | 3 | 4)
        echo "gate: ERROR: broken input (xent exit $status): the model was not judged; fix the job" >&2
        ;;
    *)
        echo "gate: ERROR: xent failed (exit $status)" >&2
        ;;
esac

if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$report" ]; then
    cat "$report" >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
