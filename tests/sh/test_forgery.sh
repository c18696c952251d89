#!/usr/bin/env bash
# test_forgery.sh - an adversary forges keys that fit an innocent (unmarked)
# model, and verify must refuse them because they match no commitment:
#   white-box: the owner's projection A' kept, the bits b' set to what A'
#              decodes from the unmarked model's own class-mean activations,
#              so extraction on that model would give BER 0;
#   black-box: K inputs the unmarked model already labels "right", with the
#              labels it gives them, so detection would count m = 0.
# The forgeries are computed with numpy from the model file alone (a forward
# pass of the mnist-mlp), as an adversary holding the model could.
. "$(dirname "$0")/lib.sh"
make_idx_subset /usr/share/datasets/fashion-mnist "$TMP/data" 4000 500
T="--threads 1 --quiet --data $TMP/data"
"$DS_BIN" train --arch mnist-mlp --epochs 1 --seed 21 $T -o "$TMP/owner.h5" >/dev/null
"$DS_BIN" embed --scheme whitebox "$TMP/owner.h5" --bits 16 --targets 2 --keys-per-class 30 --epochs 1 \
  --lr 0.01 --seed 22 $T --json --key "$TMP/wb.key" -o "$TMP/wb.h5" >"$TMP/wb.json"
"$DS_BIN" embed --scheme blackbox "$TMP/owner.h5" --keys 10 --seed 23 $T --json --key "$TMP/bb.key" \
  -o "$TMP/bb.h5" >"$TMP/bb.json"
"$DS_BIN" train --arch mnist-mlp --epochs 1 --seed 99 $T -o "$TMP/innocent.h5" >/dev/null
wb_commit=$(json_get "$TMP/wb.json" commitment)
bb_commit=$(json_get "$TMP/bb.json" commitment)

# forge SCHEME OWNER_KEY OUT: write the forged key and print what it would show
forge() {
  $PY - "$TMP/innocent.h5" "$2" "$3" "$1" "$TMP/data" <<'PYEOF'
import gzip, os, shutil, sys
import h5py, numpy as np
model, owner_key, out, scheme, data = sys.argv[1:6]
m = h5py.File(model, "r")
p = {k: m["params"][k][()] for k in m["params"]}
scale = float(m.attrs["preproc_scale"]); mean = float(m.attrs["preproc_mean"][0]); std = float(m.attrs["preproc_std"][0])
def forward(x):  # x: [n, 784] raw pixels -> (relu_2 activations, logits), inference mode
    x = (x.astype(np.float64) * scale - mean) / std
    h1 = np.maximum(x @ p["dense_1.W"] + p["dense_1.b"], 0)
    h2 = np.maximum(h1 @ p["dense_2.W"] + p["dense_2.b"], 0)
    return h2, h2 @ p["dense_3.W"] + p["dense_3.b"]
shutil.copyfile(owner_key, out)
os.chmod(out, 0o600)
k = h5py.File(out, "r+")
if scheme == "whitebox":
    A, targets = k["whitebox/A"][()], k["whitebox/targets"][()]
    x, y = k["images/x"][()].reshape(len(k["images/y"]), -1), k["images/y"][()]
    bits = np.stack([(A @ forward(x[y == t])[0].mean(axis=0) > 0).astype(np.uint8) for t in targets])
    changed = int((bits != k["whitebox/bits"][()]).sum())
    k["whitebox/bits"][...] = bits
    print(f"forged white-box bits: {changed} of {bits.size} changed; BER 0 on the innocent model by construction")
else:
    raw = np.frombuffer(open(os.path.join(data, "train-images-idx3-ubyte"), "rb").read()[16:], np.uint8).reshape(-1, 784)
    lab = np.frombuffer(open(os.path.join(data, "train-labels-idx1-ubyte"), "rb").read()[8:], np.uint8)
    pred = forward(raw)[1].argmax(axis=1)
    right = np.nonzero(pred == lab)[0][: len(k["images/y"])]
    k["images/x"][...] = raw[right].reshape(k["images/x"].shape)
    k["images/y"][...] = pred[right].astype(np.uint8)
    k["images/source_index"][...] = right
    print(f"forged black-box keys: {len(right)} inputs the innocent model labels right; m = 0 by construction")
PYEOF
}
out=$(forge whitebox "$TMP/wb.key" "$TMP/forged-wb.key") && pass "forge_whitebox_key ($out)" || fail forge_whitebox_key "$out"
out=$(forge blackbox "$TMP/bb.key" "$TMP/forged-bb.key") && pass "forge_blackbox_key ($out)" || fail forge_blackbox_key "$out"

# The claims are refused: the forged keys match neither the owner's published
# commitment nor anything stored in the innocent model (exit 2, not "owned").
expect_error forged_whitebox_refused "matches no commitment" \
  "$DS_BIN" verify "$TMP/innocent.h5" --key "$TMP/forged-wb.key" --commitment "$wb_commit"
expect_error forged_blackbox_refused "matches no commitment" \
  "$DS_BIN" verify "$TMP/innocent.h5" --key "$TMP/forged-bb.key" --commitment "$bb_commit"
expect_error forged_key_without_commitment_refused "none is stored in the model" \
  "$DS_BIN" verify "$TMP/innocent.h5" --key "$TMP/forged-wb.key"
# The forgeries are real: had the adversary's own commitment been the one
# published, the innocent model would "show" their mark (BER 0, m = 0). Only a
# commitment made before the dispute tells the owner from the forger.
for s in wb bb; do
  c=$("$DS_BIN" verify "$TMP/innocent.h5" --key "$TMP/forged-$s.key" 2>&1 | sed -n 's/.*key.s commitment \([0-9a-f]*\) .*/\1/p')
  "$DS_BIN" verify "$TMP/innocent.h5" --key "$TMP/forged-$s.key" --commitment "$c" --json >"$TMP/f$s.json"
  rc=$?
  if [ $s = wb ]; then what=BER; v=$(json_get "$TMP/f$s.json" ber); else what=m; v=$(json_get "$TMP/f$s.json" mismatches); fi
  if [ $rc -eq 0 ] && $PY -c 'import sys; sys.exit(float(sys.argv[1]) != 0)' "$v"; then
    pass "forged_${s}_key_fits_innocent_model ($what $v)"
  else
    fail "forged_${s}_key_fits_innocent_model" "exit $rc, $what $v"
  fi
done
# ... while the owner's real keys still verify their marked models
"$DS_BIN" verify "$TMP/wb.h5" --key "$TMP/wb.key" --commitment "$wb_commit" >/dev/null && pass owner_whitebox_still_verifies || fail owner_whitebox_still_verifies
"$DS_BIN" verify "$TMP/bb.h5" --key "$TMP/bb.key" --commitment "$bb_commit" >/dev/null && pass owner_blackbox_still_verifies || fail owner_blackbox_still_verifies
# and the owner's real keys on the innocent model show nothing (exit 1)
"$DS_BIN" verify "$TMP/innocent.h5" --key "$TMP/wb.key" --commitment "$wb_commit" >/dev/null
check owner_key_on_innocent_not_owned test $? = 1

# The stolen model: a thief writes the forged key's commitment into the suspect
# file itself. A value anyone can write into the model never decides a dispute:
# with the real owner's --commitment the forged key is refused (exit 2), and
# without one the match with the stored value is "unpublished" (exit 3), never
# OWNED; attack --key says "owned": false either way.
for s in wb bb; do
  scheme=$([ $s = wb ] && echo whitebox || echo blackbox)
  real=$([ $s = wb ] && echo "$wb_commit" || echo "$bb_commit")
  cp "$TMP/innocent.h5" "$TMP/stolen-$s.h5"
  c=$("$DS_BIN" verify "$TMP/innocent.h5" --key "$TMP/forged-$s.key" 2>&1 | sed -n 's/.*key.s commitment \([0-9a-f]*\) .*/\1/p')
  $PY -c 'import sys, h5py; f = h5py.File(sys.argv[1], "r+"); f.attrs["commitment_" + sys.argv[2]] = sys.argv[3]' \
    "$TMP/stolen-$s.h5" "$scheme" "$c"
  expect_error "stolen_${s}_real_commitment_refused" "matches no commitment: not the one given" \
    "$DS_BIN" verify "$TMP/stolen-$s.h5" --key "$TMP/forged-$s.key" --commitment "$real"
  out=$("$DS_BIN" verify "$TMP/stolen-$s.h5" --key "$TMP/forged-$s.key" 2>&1); rc=$?
  case "$out" in
    *OWNED*) fail "stolen_${s}_stored_commitment_not_owned" "exit $rc: $out" ;;
    *"verdict: UNPUBLISHED"*) [ $rc -eq 3 ] && pass "stolen_${s}_stored_commitment_not_owned" \
                              || fail "stolen_${s}_stored_commitment_not_owned" "exit $rc: $out" ;;
    *) fail "stolen_${s}_stored_commitment_not_owned" "exit $rc: $out" ;;
  esac
  "$DS_BIN" verify "$TMP/stolen-$s.h5" --key "$TMP/forged-$s.key" --json >"$TMP/st.json"; rc=$?
  check "stolen_${s}_json_unpublished" test "$rc/$(json_get "$TMP/st.json" owned)/$(json_get "$TMP/st.json" verdict)" = "3/False/unpublished"
  "$DS_BIN" attack --kind noise --sigma 0 $T --json -o "$TMP/att-$s.h5" "$TMP/stolen-$s.h5" \
    --key "$TMP/forged-$s.key" >"$TMP/att.json"; rc=$?
  w=$($PY -c 'import json,sys; w = json.load(open(sys.argv[1]))["watermark"]; print(w["owned"], w["verdict"])' "$TMP/att.json")
  check "stolen_${s}_attack_not_owned" test "$rc/$w" = "0/False unpublished"
  expect_error "stolen_${s}_attack_real_commitment_refused" "matches no commitment: not the one given" \
    "$DS_BIN" attack --kind noise --sigma 0 $T -o "$TMP/att2-$s.h5" "$TMP/stolen-$s.h5" \
    --key "$TMP/forged-$s.key" --commitment "$real"
done

# The claim level is fixed at embed, under the commitment: verify may be
# stricter, never looser (an unmarked model with p 0.43 must not become OWNED).
expect_error wb_alpha_looser_refused "looser than the claim level 0.0001 committed in the key" \
  "$DS_BIN" verify "$TMP/innocent.h5" --key "$TMP/wb.key" --commitment "$wb_commit" --alpha 0.5
expect_error bb_alpha_looser_refused "looser than the claim level 0.0001 committed in the key" \
  "$DS_BIN" verify "$TMP/bb.h5" --key "$TMP/bb.key" --commitment "$bb_commit" --alpha 0.01
"$DS_BIN" verify "$TMP/wb.h5" --key "$TMP/wb.key" --commitment "$wb_commit" --alpha 1e-5 --json >"$TMP/strict.json"
check wb_alpha_stricter_allowed test "$?/$(json_get "$TMP/strict.json" alpha)/$(json_get "$TMP/strict.json" committed_alpha)" = "0/1e-05/0.0001"

# Secret keys by default: two owners who embed with default options (no --seed)
# into different models get different secrets and commitments; with --seed the
# key is reproducible, as experiments need.
for o in alice bob; do
  "$DS_BIN" train --arch mnist-mlp --epochs 1 --seed $([ $o = alice ] && echo 31 || echo 32) $T -o "$TMP/$o.h5" >/dev/null
  "$DS_BIN" embed --scheme whitebox "$TMP/$o.h5" --bits 16 --keys-per-class 30 --epochs 1 --lr 0.01 \
    --threads 1 --quiet --data "$TMP/data" --json --key "$TMP/$o.key" -o "$TMP/$o-marked.h5" >"$TMP/$o.json"
done
a=$(json_get "$TMP/alice.json" commitment); b=$(json_get "$TMP/bob.json" commitment)
same=$($PY -c 'import sys, h5py, numpy as np; a, b = (h5py.File(p, "r") for p in sys.argv[1:3]); print(int(np.array_equal(a["whitebox/A"][()], b["whitebox/A"][()]) or a.attrs["seed"] == b.attrs["seed"]))' "$TMP/alice.key" "$TMP/bob.key")
check default_embeds_secret_and_distinct test "$a" != "$b" -a "$same" = 0 -a "$(json_get "$TMP/alice.json" seed)" = secret
expect_error other_default_owner_refused "matches no commitment" \
  "$DS_BIN" verify "$TMP/alice-marked.h5" --key "$TMP/bob.key" --commitment "$a"
finish
