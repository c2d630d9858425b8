#!/bin/sh
# worst.sh -- the worst samples and the mean loss per label, from xent's CSV output
# with plain Unix tools (sort, head, awk).
#
# usage: worst.sh PREDICTIONS [XENT SCORE OPTIONS...]
#   environment: TOP (how many samples, default 10), XENT (default xent)
#
# `xent score --format csv` writes one row per sample, in input order, always with
# the same four columns:
#   index,id,label,loss      (id empty when the input has no id column)
# so the loss is the last field and the label the one before it.
#
# Output: the TOP highest-loss rows as xent wrote them (highest first, ties by
# index), a blank line, then a tab-separated table `label n mean_loss`, worst label
# first. The mean is unweighted (xent's own per-class figures use --weight-col).
# Labels are split on commas: for labels that contain commas (quoted in the CSV),
# read `xent score --format json --per-sample` instead.
#
# Example:
#   ./worst.sh preds.csv --labels y.csv | less

set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 PREDICTIONS [XENT SCORE OPTIONS...]" >&2
    exit 2
fi
top=${TOP:-10}

csv=$(mktemp) || exit 1
trap 'rm -f "$csv"' EXIT
# shellcheck disable=SC2086  # $XENT may be a command with arguments
${XENT:-xent} score "$@" --format csv --output "$csv" || exit $?

# The loss is the last column (group columns of --by come before the label).
loss_col=$(head -n 1 "$csv" | awk -F, '{ print NF }')

# The worst samples: sort on the loss (general numeric, so "inf" sorts last), highest first.
head -n 1 "$csv"
tail -n +2 "$csv" | sort -t, -k"$loss_col,$loss_col"gr -k1,1n | head -n "$top"

echo
# The mean loss per label.
printf 'label\tn\tmean_loss\n'
awk -F, 'NR > 1 { n[$(NF - 1)]++; s[$(NF - 1)] += $NF }
         END { for (k in n) printf "%s\t%d\t%.6f\n", k, n[k], s[k] / n[k] }' "$csv" |
    sort -t "$(printf '\t')" -k3,3gr
