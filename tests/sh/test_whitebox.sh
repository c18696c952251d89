#!/usr/bin/env bash
# test_whitebox.sh - the white-box acceptance run of the watermark issue. On Fashion-MNIST with
# mnist-mlp: 32 bits on 2 classes embedded from scratch must give BER 0 with test
# accuracy within 0.5 points of the unmarked model of the same seed and epochs,
# and ten independently trained unmarked models must each give BER >= 0.25 and
# p-value >= 1e-3; and embedding on a trained model gives BER 0.
. "$(dirname "$0")/lib.sh"
T="--threads 2 --quiet"
EMBED_OPTS=${EMBED_OPTS:-}
le() { $PY -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$1" "$2"; }

"$DS_BIN" train --arch mnist-mlp --epochs 5 --seed 7 $T --json -o "$TMP/plain.h5" >"$TMP/plain.json"
"$DS_BIN" embed --scheme whitebox --arch mnist-mlp --epochs 5 --seed 7 --bits 32 --targets 2 $EMBED_OPTS $T \
  --json --key "$TMP/wb.key" -o "$TMP/wb.h5" >"$TMP/wb.json"
cat "$TMP/wb.json"
check wb_scratch_ber_zero test "$(json_get "$TMP/wb.json" ber)" = 0.0
acc0=$(json_get "$TMP/plain.json" accuracy); acc1=$(json_get "$TMP/wb.json" accuracy)
drop=$($PY -c "print(round(100 * ($acc0 - $acc1), 2))")
if le "$drop" 0.5; then pass "wb_accuracy_cost_${drop}_points"; else fail wb_accuracy_cost "unmarked $acc0, marked $acc1"; fi
commit=$(json_get "$TMP/wb.json" commitment)
for s in 101 102 103 104 105 106 107 108 109 110; do
  "$DS_BIN" train --arch mnist-mlp --epochs 5 --seed $s $T -o "$TMP/null.h5" >/dev/null
  "$DS_BIN" verify "$TMP/null.h5" --key "$TMP/wb.key" --commitment "$commit" --json >"$TMP/n.json"; rc=$?
  b=$(json_get "$TMP/n.json" ber); p=$(json_get "$TMP/n.json" p_value)
  if [ "$rc" = 1 ] && le 0.25 "$b" && le 0.001 "$p"; then pass "null_model_$s ber=$b p=$p"
  else fail "null_model_$s" "exit $rc, BER $b, p-value $p"; fi
done
"$DS_BIN" embed --scheme whitebox "$TMP/plain.h5" --epochs 3 --seed 9 $EMBED_OPTS $T --json --key "$TMP/wb2.key" -o "$TMP/wb2.h5" >"$TMP/wb2.json"
check wb_trained_ber_zero test "$(json_get "$TMP/wb2.json" ber)" = 0.0
finish
