#!/usr/bin/env bash
# test_cli.sh - the train/eval/info commands end to end on real Fashion-MNIST:
# help, accuracy of a 5-epoch mnist-mlp, bit-identical retraining, JSON output,
# and clear errors for bad options and bad files.
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist

check help_top "$DS_BIN" --help
for c in train eval info; do check "help_$c" "$DS_BIN" "$c" --help; done

# The acceptance run: 5 epochs of mnist-mlp on the full Fashion-MNIST, >= 0.88.
"$DS_BIN" train --arch mnist-mlp --epochs 5 --threads 2 --json --quiet -o "$TMP/a.h5" >"$TMP/a.json"
acc=$(json_get "$TMP/a.json" accuracy)
if $PY -c "import sys; sys.exit(0 if float('$acc') >= 0.88 else 1)"; then
  pass "mlp_5_epochs_accuracy_$acc"
else
  fail mlp_5_epochs_accuracy "test accuracy $acc < 0.88"
fi

# Same seed, same thread count: a bit-identical model file.
"$DS_BIN" train --arch mnist-mlp --epochs 5 --threads 2 --quiet -o "$TMP/b.h5" >/dev/null
check same_seed_bit_identical cmp -s "$TMP/a.h5" "$TMP/b.h5"

# The thread count is --threads alone: OMP_NUM_THREADS (oneDNN's pool for the
# conv layers) changes nothing. A WRN-10-1 (batch norm, residual convs) for one
# epoch on random CIFAR-shaped images, with --threads 1 under three settings.
$PY "$DS_TESTS_FIXTURES/make_cifar.py" "$TMP/rc" 100 1
for o in unset 1 2; do
  if [ "$o" = unset ]; then pre=(env -u OMP_NUM_THREADS); else pre=(env OMP_NUM_THREADS=$o); fi
  "${pre[@]}" "$DS_BIN" train --arch cifar10-wrn --depth 10 --widen 1 --data "$TMP/rc" --epochs 1 \
    --threads 1 --quiet -o "$TMP/w_$o.h5" >/dev/null
done
check wrn_threads_1_omp_unset_identical cmp -s "$TMP/w_unset.h5" "$TMP/w_1.h5"
check wrn_threads_1_omp_2_identical cmp -s "$TMP/w_2.h5" "$TMP/w_1.h5"

# eval reproduces the accuracy recorded at training time.
"$DS_BIN" eval "$TMP/a.h5" --json >"$TMP/e.json"
check eval_matches_train test "$(json_get "$TMP/e.json" accuracy)" = "$acc"

# A different seed gives a different model.
make_idx_subset "$FM" "$TMP/small" 3000 1000
"$DS_BIN" train --arch mnist-mlp --epochs 1 --seed 2 --quiet --data "$TMP/small" -o "$TMP/c.h5" >/dev/null
"$DS_BIN" train --arch mnist-mlp --epochs 1 --seed 3 --quiet --data "$TMP/small" -o "$TMP/d.h5" >/dev/null
if cmp -s "$TMP/c.h5" "$TMP/d.h5"; then fail other_seed_differs "seeds 2 and 3 gave the same file"; else pass other_seed_differs; fi

# Every optimizer and schedule trains without diverging on a small subset.
for opt in sgd adam rmsprop; do
  check "opt_$opt" "$DS_BIN" train --arch mnist-mlp --epochs 1 --opt "$opt" --quiet --data "$TMP/small" -o "$TMP/o.h5"
done
check sched_step "$DS_BIN" train --arch mnist-mlp --epochs 2 --sched step --step-every 1 --nesterov --quiet --data "$TMP/small" -o "$TMP/o.h5"
check arch_mnist_cnn "$DS_BIN" train --arch mnist-cnn --epochs 1 --quiet --data "$TMP/small" -o "$TMP/cnn.h5"
check info_lists_layers sh -c "'$DS_BIN' info '$TMP/cnn.h5' | grep -q 'conv_2'"

# Errors: named, exit 2, nothing written.
expect_error unknown_arch "unknown architecture 'resnet'" "$DS_BIN" train --arch resnet -o "$TMP/x.h5"
expect_error missing_output "-o MODEL.h5 is required" "$DS_BIN" train --arch mnist-mlp
expect_error bad_epochs "--epochs: -1 is out of range" "$DS_BIN" train --arch mnist-mlp --epochs -1 -o "$TMP/x.h5"
expect_error bad_lr "--lr: 'fast' is not a number" "$DS_BIN" train --arch mnist-mlp --lr fast -o "$TMP/x.h5"
expect_error unknown_option "unknown or incomplete option '--bogus'" "$DS_BIN" train --arch mnist-mlp --bogus -o "$TMP/x.h5"
expect_error missing_data_dir "/nonexistent" "$DS_BIN" train --arch mnist-mlp --data /nonexistent -o "$TMP/x.h5"
check nothing_written test ! -e "$TMP/x.h5"
expect_error eval_missing_file "$TMP/none.h5" "$DS_BIN" eval "$TMP/none.h5"
head -c 1000 /dev/urandom >"$TMP/junk.h5"
expect_error eval_not_hdf5 "$TMP/junk.h5" "$DS_BIN" eval "$TMP/junk.h5"
expect_error unknown_command "unknown command 'frobnicate'" "$DS_BIN" frobnicate

# A failed save leaves an existing model untouched.
cp "$TMP/c.h5" "$TMP/keep.h5"
expect_error unwritable_output "/nonexistent-dir/m.h5" "$DS_BIN" train --arch mnist-mlp --epochs 1 --quiet --data "$TMP/small" -o /nonexistent-dir/m.h5
check existing_untouched cmp -s "$TMP/c.h5" "$TMP/keep.h5"

# Integer options are decimal only: a leading zero is not octal, a base prefix is refused.
"$DS_BIN" train --arch mnist-mlp --epochs 0 --seed 010 --quiet --data "$TMP/small" -o "$TMP/s010.h5" >/dev/null
"$DS_BIN" train --arch mnist-mlp --epochs 0 --seed 10 --quiet --data "$TMP/small" -o "$TMP/s10.h5" >/dev/null
check seed_leading_zero_is_decimal cmp -s "$TMP/s010.h5" "$TMP/s10.h5"
expect_error seed_hex_refused "--seed: '0x10' is not a non-negative decimal integer" "$DS_BIN" train --arch mnist-mlp --epochs 0 --quiet --data "$TMP/small" --seed 0x10 -o "$TMP/x.h5"
expect_error seed_sign_refused "--split-seed: '+5' is not a non-negative decimal integer" "$DS_BIN" train --arch mnist-mlp --epochs 0 --quiet --data "$TMP/small" --split-seed +5 -o "$TMP/x.h5"
expect_error seed_too_large "--seed: '18446744073709551616' is larger than 18446744073709551615" "$DS_BIN" train --arch mnist-mlp --epochs 0 --quiet --data "$TMP/small" --seed 18446744073709551616 -o "$TMP/x.h5"
check seed_errors_write_nothing test ! -e "$TMP/x.h5"

# --json is valid JSON (UTF-8) whatever the bytes of a file name: train, eval, embed and verify.
bad="$TMP/m$(printf '\377\300q\342\202')\"\\é.h5"
json_ok() { $PY -c 'import json,sys; d=json.loads(open(sys.argv[1],"rb").read().decode("utf-8")); sys.exit(0 if "\ufffd" in json.dumps(d, ensure_ascii=False) and "\"\\\\é" in json.dumps(d, ensure_ascii=False) else 1)' "$1"; }
"$DS_BIN" train --arch mnist-mlp --hidden 16 --epochs 0 --quiet --json --data "$TMP/small" -o "$bad" >"$TMP/j_train.json"
check json_train_non_utf8_name json_ok "$TMP/j_train.json"
"$DS_BIN" eval "$bad" --json --data "$TMP/small" >"$TMP/j_eval.json"
check json_eval_non_utf8_name json_ok "$TMP/j_eval.json"
"$DS_BIN" embed --scheme blackbox "$bad" --keys 5 --epochs 1 --quiet --json --data "$TMP/small" --key "$TMP/j.key" -o "$bad.wm" >"$TMP/j_embed.json"
check json_embed_non_utf8_name json_ok "$TMP/j_embed.json"
"$DS_BIN" verify "$bad.wm" --key "$TMP/j.key" --json >"$TMP/j_verify.json"
check json_verify_non_utf8_name json_ok "$TMP/j_verify.json"

# gmm takes every layer info lists, the input (index 0) included.
"$DS_BIN" gmm "$TMP/s10.h5" --layer 0 --samples 200 --components 2 --threads 1 --data "$TMP/small" >"$TMP/g0.txt"
check gmm_layer_0_is_input grep -q 'layer input (784 dims), 200 training images, 2 components' "$TMP/g0.txt"
"$DS_BIN" gmm "$TMP/s10.h5" --layer input --samples 200 --components 2 --threads 1 --json --data "$TMP/small" >"$TMP/g0.json"
check gmm_layer_input_by_name test "$(json_get "$TMP/g0.json" dims)" = 784
expect_error gmm_layer_past_last "no layer '9' in $TMP/s10.h5" "$DS_BIN" gmm "$TMP/s10.h5" --layer 9 --data "$TMP/small"
# each command takes only the options it uses, and -o/--output everywhere
expect_error gmm_refuses_training_options "unknown or incomplete option '--epochs'" "$DS_BIN" gmm "$TMP/s10.h5" --epochs 3 --data "$TMP/small"
check info_help_lists_options sh -c "'$DS_BIN' info --help | grep -q -- '--keras'"
check attack_takes_output "$DS_BIN" attack --kind noise --sigma 0 "$TMP/s10.h5" --threads 1 --quiet --data "$TMP/small" --output "$TMP/o1.h5"
check attack_takes_out_alias "$DS_BIN" attack --kind noise --sigma 0 "$TMP/s10.h5" --threads 1 --quiet --data "$TMP/small" --out "$TMP/o2.h5"
expect_error momentum_range_shared "--momentum: 1 is out of range [0, 1)" "$DS_BIN" train --arch mnist-mlp --momentum 1 --data "$TMP/small" -o "$TMP/m1.h5"

# attack --kind dummy takes the whole documented --neurons range (1..65536): cheap on the
# last hidden layer of a 16-wide mlp (the widened layer has 65552 units).
"$DS_BIN" train --arch mnist-mlp --hidden 16 --epochs 0 --quiet --data "$TMP/small" -o "$TMP/h16.h5" >/dev/null
check dummy_neurons_65536 "$DS_BIN" attack --kind dummy "$TMP/h16.h5" --layer dense_2 --neurons 65536 --threads 1 --quiet --data "$TMP/small" -o "$TMP/dum.h5"
check dummy_neurons_65536_width sh -c "'$DS_BIN' info '$TMP/dum.h5' | grep -q 'dense_2 *dense *65552 x 1 x 1'"
expect_error dummy_neurons_past_range "--neurons: 65537 is out of range [1, 65536]" "$DS_BIN" attack --kind dummy "$TMP/h16.h5" --neurons 65537 --data "$TMP/small" -o "$TMP/dum2.h5"

finish
