#!/usr/bin/env bash
# test_attack.sh - `deepsigns attack` end to end on a real Fashion-MNIST subset:
# every kind runs, reports its cost, realised strength, |dtheta| and accuracy,
# and (with --key) the owner's check; zero strengths leave the parameters
# bit-identical; permute and dummy keep the predictions; bad options are refused.
. "$(dirname "$0")/lib.sh"
make_idx_subset /usr/share/datasets/fashion-mnist "$TMP/data" 6000 1000
T="--threads 1 --quiet --data $TMP/data"
"$DS_BIN" train --arch mnist-mlp --epochs 2 --seed 3 $T -o "$TMP/plain.h5" >/dev/null
"$DS_BIN" embed --scheme whitebox "$TMP/plain.h5" --bits 16 --targets 2 --keys-per-class 40 \
  --epochs 2 --lr 0.01 --seed 4 $T --key "$TMP/wb.key" -o "$TMP/wb.h5" >/dev/null
"$DS_BIN" embed --scheme blackbox "$TMP/plain.h5" --keys 10 --seed 5 $T --key "$TMP/bb.key" \
  -o "$TMP/bb.h5" >/dev/null

# attack NAME ARGS...: run with --json into $TMP/NAME.json; PASS when it exits 0
attack() {
  local name=$1; shift
  if "$DS_BIN" attack "$@" $T --json -o "$TMP/$name.h5" >"$TMP/$name.json" 2>"$TMP/$name.err"; then
    pass "attack_$name"
  else
    fail "attack_$name" "$(cat "$TMP/$name.err")"
  fi
}
# field NAME KEY[.SUB]: a value of the JSON report
field() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$TMP/$1.json" "$2"; }
# same_params A B: every /params dataset equal, bit for bit
same_params() { $PY - "$1" "$2" <<'PYEOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert set(a["params"]) == set(b["params"])
sys.exit(0 if all(np.array_equal(a["params"][k][()].view(np.uint32), b["params"][k][()].view(np.uint32)) for k in a["params"]) else 1)
PYEOF
}

attack prune_wb --kind prune --rate 0.5 "$TMP/wb.h5" --key "$TMP/wb.key"
check prune_report test "$(field prune_wb realised_what)/$(field prune_wb kind)" = "sparsity/prune"
check prune_sparsity $PY -c "import sys; sys.exit(abs($(field prune_wb realised) - 0.5) > 1e-3)"
check prune_wb_ber_reported test "$(field prune_wb watermark.scheme)" = whitebox
attack prune_global_bb --kind prune --scope global --rate 0.3 --finetune-epochs 1 "$TMP/bb.h5" --key "$TMP/bb.key"
check prune_ft_used_attacker_data test "$(field prune_global_bb attacker_samples)" = 1000
attack finetune_bb --kind finetune --mode rtll --epochs 1 --labels predicted --data-fraction 0.5 "$TMP/bb.h5" --key "$TMP/bb.key"
check finetune_fraction test "$(field finetune_bb attacker_samples)" = 500
attack overwrite_bb --kind overwrite --scheme blackbox --keys 5 --epochs 1 "$TMP/bb.h5" --key "$TMP/bb.key"
attack overwrite_wb --kind overwrite --scheme whitebox --bits 16 --epochs 1 "$TMP/wb.h5" --key "$TMP/wb.key"
attack quantize_wb --kind quantize --bits 4 "$TMP/wb.h5" --key "$TMP/wb.key"
attack noise_bb --kind noise --sigma 0.2 --seed 9 "$TMP/bb.h5" --key "$TMP/bb.key"
check noise_changes $PY -c "import sys; sys.exit(not $(field noise_bb delta_l2) > 0)"

# zero strengths: the parameters are bit-identical
attack rate0 --kind prune --rate 0 "$TMP/wb.h5"
check rate0_identical same_params "$TMP/wb.h5" "$TMP/rate0.h5"
attack sigma0 --kind noise --sigma 0 "$TMP/wb.h5"
check sigma0_identical same_params "$TMP/wb.h5" "$TMP/sigma0.h5"
attack bits32 --kind quantize --bits 32 "$TMP/wb.h5"
check bits32_identical same_params "$TMP/wb.h5" "$TMP/bits32.h5"

# function-preserving attacks: same accuracy, changed parameters; permutation
# scrambles the white-box bits read as they are and dummy neurons make the
# layer unfit for them, while the key's reference realigns the layer (the
# verdict's BER; test_align.sh checks realignment itself)
attack permute_wb --kind permute "$TMP/wb.h5" --key "$TMP/wb.key"
check permute_same_accuracy test "$(field permute_wb accuracy)" = "$(field permute_wb accuracy_before)"
check permute_changes_params $PY -c "import sys; sys.exit(not $(field permute_wb delta_l2) > 0)"
check permute_scrambles_bits $PY -c "import sys; sys.exit(not $(field permute_wb watermark.ber_unaligned) >= 0.2)"
check permute_realigned $PY -c "import sys; sys.exit(not ('$(field permute_wb watermark.aligned)' == 'True' and $(field permute_wb watermark.ber) <= 0.02))"
attack permute_bb --kind permute --layer relu_1 "$TMP/bb.h5" --key "$TMP/bb.key"
check permute_keeps_blackbox test "$(field permute_bb watermark.mismatches)" = 0
attack dummy_wb --kind dummy --dummy split --neurons 8 "$TMP/wb.h5" --key "$TMP/wb.key"
check dummy_same_accuracy test "$(field dummy_wb accuracy)" = "$(field dummy_wb accuracy_before)"
check dummy_unaligned_unfit test "$(field dummy_wb watermark.ber_unaligned)" = None
check dummy_realigned test "$(field dummy_wb watermark.aligned)" = True
check dummy_units_added test "$(field dummy_wb realised)" = 16
"$DS_BIN" info "$TMP/dummy_wb.h5" | grep -q "relu_2.*520 x 1 x 1" && pass dummy_model_loads_wider || fail dummy_model_loads_wider
# per-unit positive rescaling: the same function, the white-box bits read through
# sign(A . mean activation) scrambled; spread 0 changes nothing
attack scale_wb --kind scale --strength 3 "$TMP/wb.h5" --key "$TMP/wb.key"
check scale_same_accuracy test "$(field scale_wb accuracy)" = "$(field scale_wb accuracy_before)"
check scale_changes_params $PY -c "import sys; sys.exit(not $(field scale_wb delta_l2) > 0)"
check scale_scrambles_bits $PY -c "import sys; sys.exit(not $(field scale_wb watermark.ber_unaligned) >= 0.1)"
check scale_layers_realised test "$(field scale_wb realised)" = 2
attack scale0 --kind scale --strength 0 "$TMP/wb.h5"
check scale0_identical same_params "$TMP/wb.h5" "$TMP/scale0.h5"
expect_error scale_strength_range "--strength" "$DS_BIN" attack --kind scale --strength 21 "$TMP/wb.h5" -o "$TMP/x.h5" $T
# a chain: dummies, then permuted and rescaled with the rest (random positions,
# their own scales): the same function, a layer the bits no longer fit as they
# are (realigned with the key's reference)
attack chain_wb --kind chain --neurons 6 "$TMP/wb.h5" --key "$TMP/wb.key"
check chain_same_accuracy test "$(field chain_wb accuracy)" = "$(field chain_wb accuracy_before)"
check chain_steps_realised test "$(field chain_wb realised)" = 3
check chain_unaligned_unfit test "$(field chain_wb watermark.ber_unaligned)" = None
check chain_realigned test "$(field chain_wb watermark.aligned)" = True
attack chain_ps --kind chain --steps permute,scale --epochs 1 "$TMP/wb.h5" --key "$TMP/wb.key"
check chain_then_finetune test "$(field chain_ps attacker_samples)" = 1000
expect_error chain_step_refused "--steps: prune is not a step a chain takes" "$DS_BIN" attack --kind chain --steps permute,prune "$TMP/wb.h5" -o "$TMP/x.h5" $T
expect_error permute_has_no_strength "attack permute has no strength" "$DS_BIN" attack --kind permute --strength 1 "$TMP/wb.h5" -o "$TMP/x.h5" $T

# refusals
expect_error rate_1_refused "--rate" "$DS_BIN" attack --kind prune --rate 1 "$TMP/wb.h5" -o "$TMP/x.h5" $T
expect_error unknown_kind_refused "prunes" "$DS_BIN" attack --kind prunes "$TMP/wb.h5" -o "$TMP/x.h5" $T
expect_error kind_required "--kind is required" "$DS_BIN" attack "$TMP/wb.h5" -o "$TMP/x.h5" $T
expect_error out_required "-o OUT.h5 is required" "$DS_BIN" attack --kind noise "$TMP/wb.h5" $T
expect_error missing_model "$TMP/nope.h5" "$DS_BIN" attack --kind noise "$TMP/nope.h5" -o "$TMP/x.h5" $T
expect_error output_layer_refused "output layer" "$DS_BIN" attack --kind permute --layer dense_3 "$TMP/wb.h5" -o "$TMP/x.h5" $T
check refusals_wrote_nothing test ! -e "$TMP/x.h5"
finish
