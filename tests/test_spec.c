/* test_spec.c - experiment specs: the shipped specs parse to the expected values,
 * defaults fill what a spec leaves out, and every refusal names file, line and
 * key path. Run from the repository root (the specs are read by relative path). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"

#include "deepsigns/plan.h"
#include "deepsigns/rng.h"
#include "deepsigns/spec.h"

#define WB_BIT (1u << DS_WM_WHITEBOX)
#define WB_BB_BITS ((1u << DS_WM_WHITEBOX) | (1u << DS_WM_BLACKBOX))

/* The four required keys, on lines 1-4; cases append from line 5. */
#define BASE "name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\nwatermarks: {blackbox: {}}\n"

static ds_spec spec; /* large: keep it off the stack */

static int parse(const char *text, ds_err *err)
{
    return (int)ds_spec_parse(text, strlen(text), "t.yaml", &spec, err);
}

/* text must be refused with code and a message containing want. */
static void expect_fail_at(int line, const char *text, ds_status code, const char *want)
{
    ds_err err = {0};
    ds_status st = (ds_status)parse(text, &err);
    CHECK(st == code, "line %d: status %s, expected %s (message: %s)", line, ds_status_name(st),
          ds_status_name(code), err.msg);
    CHECK(strstr(err.msg, want) != NULL, "line %d: message \"%s\" lacks \"%s\"", line, err.msg, want);
    CHECK(spec.text == NULL && spec.nseeds == 0 && spec.name[0] == '\0',
          "line %d: a refused spec is left zeroed", line);
    ds_spec_free(&spec);
}
#define expect_fail(text, code, want) expect_fail_at(__LINE__, text, code, want)

/* text must be refused with code and exactly the message want. */
static void expect_exact_at(int line, const char *text, ds_status code, const char *want)
{
    ds_err err = {0};
    ds_status st = (ds_status)parse(text, &err);
    CHECK(st == code, "line %d: status %s, expected %s (message: %s)", line, ds_status_name(st),
          ds_status_name(code), err.msg);
    CHECK(!strcmp(err.msg, want), "line %d: message\n  \"%s\"\nexpected\n  \"%s\"", line, err.msg, want);
    ds_spec_free(&spec);
}
#define expect_exact(text, code, want) expect_exact_at(__LINE__, text, code, want)

static int find_attack(const ds_spec *s, ds_attack_kind k)
{
    for (int i = 0; i < s->nattacks; i++)
        if (s->attacks[i].cfg.kind == k) return i;
    return -1;
}

static void test_quick_yaml(void)
{
    ds_err err = {0};
    CHECK_OK(ds_spec_load("experiments/quick.yaml", &spec, &err), &err);
    ds_spec *s = &spec;
    CHECK(!strcmp(s->path, "experiments/quick.yaml"), "path %s", s->path);
    CHECK(!strcmp(s->name, "quick"), "name %s", s->name);
    CHECK(s->seed == 2026, "seed");
    CHECK(!strcmp(s->data_dir, "/usr/share/datasets/fashion-mnist"), "dir %s", s->data_dir);
    CHECK(s->data_format == DS_FORMAT_AUTO && s->train_limit == 0 && s->test_limit == 0, "data");
    CHECK(!strcmp(s->arch.name, "mnist-mlp") && s->hidden == 0 && s->dropout < 0 && s->depth == 0 &&
              s->widen == 0 && s->arch.hidden == 0,
          "model");
    CHECK(s->train.epochs == 3 && s->train.batch == 128, "train epochs %d batch %d", s->train.epochs,
          s->train.batch);
    CHECK(s->train.opt.kind == DS_OPT_SGD && s->train.opt.sched == DS_SCHED_COSINE, "opt");
    CHECK_CLOSE(s->train.opt.lr, 0.05, 1e-7, 0, "train lr");
    CHECK_CLOSE(s->train.opt.momentum, 0.9, 1e-7, 0, "momentum");
    CHECK(s->nseeds == 2 && s->seeds[0] == 1 && s->seeds[1] == 2, "seeds");
    CHECK(s->nulls == 2, "nulls %d", s->nulls);
    CHECK(s->wb.enabled && s->wb.nbits == 1 && s->wb.bits[0] == 32 && s->wb.targets == 2 &&
              s->wb.epochs == 2 && s->wb.keys_per_class == 100 && s->wb.layer[0] == '\0',
          "whitebox");
    CHECK_CLOSE(s->wb.lambda, 0.003, 1e-9, 0, "lambda");
    CHECK(s->bb.enabled && s->bb.nkeys == 1 && s->bb.keys[0] == 20 && s->bb.epochs == 2, "blackbox");
    CHECK_CLOSE(s->bb.alpha, 1e-4, 1e-12, 0, "alpha");
    CHECK(s->nattacks == 9, "nattacks %d", s->nattacks);
    for (int i = 0; i < s->nattacks; i++) {
        CHECK(s->attacks[i].schemes == WB_BB_BITS, "attack %d attacks both marks", i);
        CHECK(s->attacks[i].nvariants >= 1 && s->attacks[i].nstrengths >= 1, "attack %d cells", i);
    }

    int p = find_attack(s, DS_ATTACK_PRUNE);
    CHECK(p == 0 && s->attacks[0].line == 33, "prune first, on line 33 (%d)", s->attacks[0].line);
    if (p >= 0) {
        const ds_spec_attack *a = &s->attacks[p];
        CHECK(a->nvariants == 2 && a->variants[0] == DS_PRUNE_LAYER && a->variants[1] == DS_PRUNE_GLOBAL,
              "scopes");
        static const double rates[] = {0.1, 0.3, 0.5, 0.7, 0.9};
        CHECK(a->nstrengths == 5, "rates %d", a->nstrengths);
        for (int i = 0; i < 5 && i < a->nstrengths; i++) CHECK_CLOSE(a->strengths[i], rates[i], 0, 0, "rate");
        CHECK(a->cfg.epochs == 0 && a->cfg.scope == DS_PRUNE_LAYER && a->cfg.rate == 0.1, "prune cfg");
    }
    int f = find_attack(s, DS_ATTACK_FINETUNE);
    CHECK(f >= 0, "finetune");
    if (f >= 0) {
        const ds_spec_attack *a = &s->attacks[f];
        CHECK(a->nvariants == 1 && a->variants[0] == DS_FT_FTAL, "mode");
        CHECK(a->nstrengths == 2 && a->strengths[0] == 2 && a->strengths[1] == 5, "epochs");
        CHECK_CLOSE(a->cfg.opt.lr, 0.01, 1e-9, 0, "finetune lr");
        CHECK(a->cfg.data_fraction == 1.0 && a->cfg.predicted_labels == 0 && a->cfg.epochs == 2,
              "finetune cfg");
    }
    int o = find_attack(s, DS_ATTACK_OVERWRITE);
    CHECK(o >= 0, "overwrite");
    if (o >= 0) {
        const ds_spec_attack *a = &s->attacks[o];
        CHECK(a->nstrengths == 2 && a->strengths[0] == 10 && a->strengths[1] == 20, "keys");
        CHECK(a->nstrengths_wb == 1 && a->strengths_wb[0] == 32, "bits");
        CHECK(a->cfg.epochs == 2 && a->cfg.keys == 10 && a->cfg.bits == 32, "overwrite cfg");
    }
    int q = find_attack(s, DS_ATTACK_QUANTIZE);
    CHECK(q >= 0 && s->attacks[q].nstrengths == 2 && s->attacks[q].strengths[0] == 8 &&
              s->attacks[q].strengths[1] == 4,
          "quantize");
    int n = find_attack(s, DS_ATTACK_NOISE);
    CHECK(n >= 0 && s->attacks[n].nstrengths == 1 && s->attacks[n].strengths[0] == 0.5, "noise");
    int pe = find_attack(s, DS_ATTACK_PERMUTE);
    CHECK(pe >= 0 && s->attacks[pe].nstrengths == 1 && s->attacks[pe].strengths[0] == 0 &&
              s->attacks[pe].cfg.layer == NULL,
          "permute");
    int d = find_attack(s, DS_ATTACK_DUMMY);
    CHECK(d >= 0 && s->attacks[d].nvariants == 2 && s->attacks[d].variants[0] == DS_DUMMY_CLIQUE &&
              s->attacks[d].variants[1] == DS_DUMMY_SPLIT && s->attacks[d].nstrengths == 2 &&
              s->attacks[d].strengths[0] == 16 && s->attacks[d].strengths[1] == 64 &&
              s->attacks[d].cfg.neurons == 16,
          "dummy");
    int sc = find_attack(s, DS_ATTACK_SCALE);
    CHECK(sc >= 0 && s->attacks[sc].nstrengths == 1 && s->attacks[sc].strengths[0] == 2, "scale");
    int ch = find_attack(s, DS_ATTACK_CHAIN);
    CHECK(ch >= 0 && s->attacks[ch].nstrengths == 2 && s->attacks[ch].strengths[0] == 0 &&
              s->attacks[ch].strengths[1] == 2 && s->attacks[ch].cfg.neurons == 64,
          "chain");

    tu_bytes file = tu_read_file("experiments/quick.yaml");
    CHECK(s->text && file.b && strlen(s->text) == file.n && !memcmp(s->text, file.b, file.n),
          "text holds the file's bytes");
    free(file.b);
    ds_spec_free(s);
    CHECK(s->text == NULL, "free clears text");
    ds_spec_free(s); /* twice is fine */
}

static void test_tiny_yaml(void)
{
    ds_err err = {0};
    CHECK_OK(ds_spec_load("experiments/tiny.yaml", &spec, &err), &err);
    ds_spec *s = &spec;
    CHECK(!strcmp(s->name, "tiny"), "name");
    CHECK(s->train_limit == 3000 && s->test_limit == 1000, "limits");
    CHECK(s->train.epochs == 1 && s->train.batch == 128, "train");
    CHECK(s->nseeds == 2 && s->seeds[0] == 1 && s->seeds[1] == 2 && s->nulls == 1, "seeds, nulls");
    CHECK(s->wb.enabled && s->wb.nbits == 1 && s->wb.bits[0] == 16 && s->wb.targets == 2 &&
              s->wb.epochs == 1 && s->wb.keys_per_class == 20,
          "whitebox");
    CHECK(s->bb.enabled && s->bb.nkeys == 1 && s->bb.keys[0] == 10 && s->bb.epochs == 1, "blackbox");
    CHECK(s->nattacks == 4, "nattacks %d", s->nattacks);
    if (s->nattacks == 4) {
        const ds_spec_attack *a = s->attacks;
        CHECK(a[0].cfg.kind == DS_ATTACK_PRUNE && a[0].nvariants == 1 && a[0].variants[0] == DS_PRUNE_LAYER &&
                  a[0].nstrengths == 2 && a[0].strengths[0] == 0.3 && a[0].strengths[1] == 0.9,
              "prune");
        CHECK(a[1].cfg.kind == DS_ATTACK_FINETUNE && a[1].variants[0] == DS_FT_FTAL &&
                  a[1].nstrengths == 1 && a[1].strengths[0] == 1,
              "finetune");
        CHECK(a[2].cfg.kind == DS_ATTACK_OVERWRITE && a[2].nstrengths == 1 && a[2].strengths[0] == 5 &&
                  a[2].nstrengths_wb == 1 && a[2].strengths_wb[0] == 16 && a[2].cfg.epochs == 1,
              "overwrite");
        CHECK(a[3].cfg.kind == DS_ATTACK_PERMUTE && a[3].nstrengths == 1, "permute");
    }
    ds_spec_free(s);
}

/* What a spec leaves out comes from the defaults of docs/spec.md. */
static void test_defaults(void)
{
    ds_err err = {0};
    const char *text = BASE "attacks:\n  - kind: finetune\n    epochs: 3\n  - {kind: dummy}\n";
    CHECK_OK(parse(text, &err), &err);
    ds_spec *s = &spec;
    CHECK(s->seed == 0 && !strcmp(s->data_dir, DS_DEFAULT_DATA_DIR), "seed, dir");
    CHECK(s->train.epochs == 5 && s->train.batch == 128 && s->train.opt.kind == DS_OPT_SGD &&
              s->train.opt.sched == DS_SCHED_COSINE && !s->train.opt.nesterov,
          "train");
    CHECK_CLOSE(s->train.opt.lr, 0.05, 1e-7, 0, "lr");
    CHECK(s->nulls == 0 && !s->wb.enabled && s->bb.enabled && s->bb.keys[0] == 20, "marks");
    CHECK(s->nattacks == 2, "attacks");
    const ds_spec_attack *a = &s->attacks[0];
    CHECK(a->schemes == (1u << DS_WM_BLACKBOX), "schemes: the enabled marks");
    CHECK(a->nvariants == 1 && a->variants[0] == DS_FT_FTAL && a->nstrengths == 1 && a->strengths[0] == 3,
          "finetune");
    CHECK(a->cfg.batch == 128 && a->cfg.data_fraction == 1.0 && a->line == 6, "finetune cfg, line %d",
          a->line);
    a = &s->attacks[1];
    CHECK(a->variants[0] == DS_DUMMY_CLIQUE && a->nstrengths == 1 && a->strengths[0] == 8, "dummy");
    ds_spec_free(s);

    /* a kind from the table only: scale, its strength list and range */
    CHECK_OK(parse(BASE "attacks:\n  - {kind: scale, spread: [0, 2.5], layer: relu_1}\n  - {kind: scale}\n",
                   &err), &err);
    a = &s->attacks[0];
    CHECK(a->cfg.kind == DS_ATTACK_SCALE && a->nstrengths == 2 && a->strengths[1] == 2.5 &&
              a->cfg.spread == 0.0 && !strcmp(a->layer, "relu_1"),
          "scale: %d strengths", a->nstrengths);
    CHECK(s->attacks[1].nstrengths == 1 && s->attacks[1].strengths[0] == 2.0, "scale default spread");
    ds_spec_free(s);
    /* a chain: its steps and the steps' knobs, its fine-tuning epochs the strength */
    CHECK_OK(parse(BASE "attacks:\n  - {kind: chain, steps: [dummy, scale], neurons: 4, dummy: split, spread: 1.5, "
                   "epochs: [0, 1]}\n", &err), &err);
    a = &s->attacks[0];
    CHECK(a->cfg.kind == DS_ATTACK_CHAIN && a->cfg.nsteps == 2 && a->cfg.steps[1] == DS_ATTACK_SCALE &&
              a->cfg.neurons == 4 && a->cfg.dummy == DS_DUMMY_SPLIT && a->cfg.spread == 1.5 && a->nstrengths == 2,
          "chain");
    ds_spec_free(s);
    expect_fail(BASE "attacks:\n  - {kind: chain, steps: [dummy, prune]}\n", DS_EINVAL,
                "t.yaml:6: attacks[0].steps[1]: unknown value 'prune' (expected permute, dummy, scale)");
    expect_fail(BASE "attacks:\n  - {kind: scale, spread: 21}\n", DS_ERANGE,
                "t.yaml:6: attacks[0].spread: 21 is out of range [0, 20]");
    expect_fail(BASE "attacks:\n  - {kind: scale, rate: 0.5}\n", DS_EINVAL,
                "t.yaml:6: attacks[0].rate: unknown key for kind scale (expected kind, schemes, seed, "
                "spread, layer)");

    /* adam without lr keeps adam's own default; layer strings; anchors and aliases */
    text = "name: a.b-c_1\nseed: 18446744073709551615\n"
           "model:\n  arch: cifar10-wrn\n  depth: 28\n  widen: 10\n  dropout: 0.3\n"
           "train: {opt: adam, schedule: step, step_every: 3, gamma: 0.5, epochs: 0}\n"
           "seeds: &s [3, 1e3]\nnulls: 4\n"
           "watermarks:\n  whitebox: {layer: relu_1, bits: [8, 16]}\n  blackbox:\n"
           "attacks:\n  - kind: permute\n    layer: relu_2\n    schemes: whitebox\n"
           "  - kind: prune\n    rate: &r [0.25]\n    labels: predicted\n    opt: rmsprop\n"
           "  - {kind: noise, sigma: *r, seed: 9}\n";
    CHECK_OK(parse(text, &err), &err);
    CHECK(s->seed == UINT64_MAX && !strcmp(s->name, "a.b-c_1"), "name, seed");
    CHECK(!strcmp(s->arch.name, "cifar10-wrn") && s->depth == 28 && s->widen == 10, "wrn");
    CHECK_CLOSE(s->dropout, 0.3, 1e-7, 0, "dropout");
    CHECK(s->train.opt.kind == DS_OPT_ADAM && s->train.opt.sched == DS_SCHED_STEP &&
              s->train.opt.step_every == 3 && s->train.epochs == 0,
          "adam");
    CHECK_CLOSE(s->train.opt.lr, 1e-3, 1e-9, 0, "adam lr");
    CHECK(s->nseeds == 2 && s->seeds[1] == 1000, "seeds");
    CHECK(s->wb.enabled && s->bb.enabled && !strcmp(s->wb.layer, "relu_1") && s->wb.nbits == 2 &&
              s->wb.bits[1] == 16,
          "marks");
    CHECK(s->nattacks == 3, "attacks %d", s->nattacks);
    CHECK(s->attacks[0].cfg.layer == s->attacks[0].layer && !strcmp(s->attacks[0].layer, "relu_2") &&
              s->attacks[0].schemes == WB_BIT,
          "permute layer");
    CHECK(s->attacks[1].cfg.predicted_labels == 1 && s->attacks[1].cfg.opt.kind == DS_OPT_RMSPROP &&
              s->attacks[1].strengths[0] == 0.25 && s->attacks[1].cfg.opt.sched == DS_SCHED_CONST,
          "prune");
    CHECK(s->attacks[2].nstrengths == 1 && s->attacks[2].strengths[0] == 0.25 &&
              s->attacks[2].cfg.seed == 9,
          "alias");
    CHECK(s->text && !strcmp(s->text, text), "text");
    ds_spec_free(s);
}

static void test_bad_specs(void)
{
    expect_fail(BASE "data:\n  dri: /tmp\n", DS_EINVAL,
                "t.yaml:6: data.dri: unknown key (expected dir, format, train_limit, test_limit)");
    expect_fail(BASE "train:\n  epochs: five\n", DS_EINVAL,
                "t.yaml:6: train.epochs: expected an integer, got 'five'");
    expect_fail(BASE "nulls: 2.5\n", DS_EINVAL, "t.yaml:5: nulls: expected an integer, got '2.5'");
    expect_fail(BASE "nulls: \"3\"\n", DS_EINVAL,
                "t.yaml:5: nulls: expected an integer, got the quoted string '3'");
    expect_fail(BASE "attacks:\n  - kind: prune\n    rate: 1.0\n", DS_ERANGE,
                "t.yaml:7: attacks[0].rate: 1.0 is out of range [0, 1)");
    expect_fail(BASE "attacks:\n  - kind: prune\n    scope: [layer]\n    rate:\n      - 0.1\n      - 1.5\n",
                DS_ERANGE, "t.yaml:10: attacks[0].rate[1]: 1.5 is out of range [0, 1)");
    expect_fail(BASE "train:\n  epochs: -3\n", DS_ERANGE,
                "t.yaml:6: train.epochs: -3 is out of range [0, 100000]");
    expect_fail(BASE "train:\n  opt: adagrad\n", DS_EINVAL,
                "t.yaml:6: train.opt: unknown value 'adagrad' (expected sgd, adam, rmsprop)");
    expect_fail(BASE "nulls: 1\nnulls: 2\n", DS_EFORMAT, "t.yaml:6: nulls: duplicate key (first on line 5)");
    expect_fail(BASE "attacks:\n  - {kind: noise, sigma: 1, sigma: 2}\n", DS_EFORMAT,
                "t.yaml:6: attacks[0].sigma: duplicate key (first on line 6)");
    expect_fail("# no name\nmodel: {arch: mnist-mlp}\nseeds: [1]\nwatermarks: {blackbox: {}}\n", DS_EINVAL,
                "t.yaml:2: missing required key 'name'");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nwatermarks: {blackbox: {}}\n", DS_EINVAL,
                "t.yaml:1: missing required key 'seeds'");
    expect_fail("name: x\nmodel: {}\nseeds: [1]\nwatermarks: {blackbox: {}}\n", DS_EINVAL,
                "t.yaml:2: model: missing required key 'arch' (or 'file', a model file)");
    /* model.file: the file must be readable; not with arch, dropout or an arch's knobs */
    expect_fail("name: x\nmodel: {file: /nonexistent/m.onnx}\nseeds: [1]\nwatermarks: {blackbox: {}}\n",
                DS_EIO, "t.yaml:2: model.file: /nonexistent/m.onnx");
    expect_fail("name: x\nmodel: {arch: mnist-mlp, file: /etc/hostname}\nseeds: [1]\nwatermarks: {blackbox: {}}\n",
                DS_EINVAL, "t.yaml:2: model: give arch or file, not both");
    expect_fail("name: x\nmodel: {file: /etc/hostname, dropout: 0.1}\nseeds: [1]\nwatermarks: {blackbox: {}}\n",
                DS_EINVAL, "t.yaml:2: model: dropout applies to an arch, not to a model file");
    expect_fail("name: x\nmodel: {file: /etc/hostname, hidden: 8}\nseeds: [1]\nwatermarks: {blackbox: {}}\n",
                DS_EINVAL, "t.yaml:2: model.hidden: applies to arch mnist-mlp only (the model is a file)");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: []\nwatermarks: {blackbox: {}}\n", DS_EINVAL,
                "t.yaml:3: seeds: empty list (expected 1 to 64 values)");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\nnulls: ]\n", DS_EFORMAT,
                "t.yaml:4: YAML syntax error");
    expect_fail("name: x\nseeds: [1, 2\n", DS_EFORMAT, "YAML syntax error");
    expect_fail("- name\n- x\n", DS_EFORMAT, "t.yaml:1: the document is a list (expected a mapping");
    expect_fail("just words\n", DS_EFORMAT, "t.yaml:1: the document is 'just words' (expected a mapping");
    expect_fail("", DS_EFORMAT, "t.yaml:1: empty document");
    expect_fail("# only a comment\n\n", DS_EFORMAT, "t.yaml:1: empty document");
    expect_fail("---\n", DS_EFORMAT, "empty document");
    expect_fail(BASE "---\nname: y\n", DS_EFORMAT, "t.yaml:5: a second YAML document");
    expect_fail(BASE "attacks:\n  - rate: 0.5\n", DS_EINVAL, "t.yaml:6: attacks[0]: missing required key 'kind'");
    expect_fail(BASE "attacks:\n  - kind: melt\n", DS_EINVAL,
                "t.yaml:6: attacks[0].kind: unknown value 'melt' (expected prune, finetune, overwrite, "
                "quantize, noise, permute, dummy, scale, chain)");
    expect_fail(BASE "attacks:\n  - kind: quantize\n    rate: 0.5\n", DS_EINVAL,
                "t.yaml:7: attacks[0].rate: unknown key for kind quantize (expected kind, schemes, "
                "seed, bits)");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\nwatermarks:\n  whitebox:\n    bits: [32, 0]\n",
                DS_ERANGE, "t.yaml:6: watermarks.whitebox.bits[1]: 0 is out of range [1, 4096]");
    expect_fail(BASE "attacks:\n  - kind: noise\n    sigma: .nan\n", DS_EINVAL,
                "t.yaml:7: attacks[0].sigma: expected a finite number, got '.nan'");
    expect_fail(BASE "attacks:\n  - kind: noise\n    sigma: [0.1, NaN]\n", DS_EINVAL,
                "t.yaml:7: attacks[0].sigma[1]: expected a finite number, got 'NaN'");
    expect_fail(BASE "attacks:\n  - kind: noise\n    sigma: -inf\n", DS_EINVAL, "expected a finite number");
    expect_fail(BASE "attacks:\n  - kind: noise\n    sigma: 0x10\n", DS_EINVAL,
                "t.yaml:7: attacks[0].sigma: expected a number, got '0x10'");
    expect_fail(BASE "attacks:\n  - kind: quantize\n    bits: [8, 8]\n", DS_EINVAL,
                "t.yaml:7: attacks[0].bits[1]: 8 is listed twice (also at attacks[0].bits[0])");
    expect_fail(BASE "attacks:\n  - kind: finetune\n    mode: [ftal, sideways]\n", DS_EINVAL,
                "t.yaml:7: attacks[0].mode[1]: unknown value 'sideways' (expected ftll, ftal, rtll, rtal)");
    expect_fail(BASE "attacks:\n  - kind: finetune\n    mode: ftal\n", DS_EINVAL,
                "t.yaml:6: attacks[0]: missing required key 'epochs'");
    expect_fail(BASE "attacks:\n  - kind: dummy\n    neurons: [4, 1]\n", DS_ERANGE,
                "t.yaml:7: attacks[0].neurons[1]: 1 is too few for variant clique");
    expect_fail(BASE "attacks:\n  - kind: permute\n    schemes: [blackbox, whitebox]\n", DS_EINVAL,
                "t.yaml:7: attacks[0].schemes[1]: whitebox is not among the watermarks");
    expect_fail(BASE "attacks:\n  - 3\n", DS_EINVAL, "t.yaml:6: attacks[0]: expected a mapping with a kind, got '3'");
    expect_fail(BASE "attacks: {kind: prune}\n", DS_EINVAL, "t.yaml:5: attacks: expected a list of attacks, got a mapping");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: [1, 1]\nwatermarks: {blackbox: {}}\n", DS_EINVAL,
                "t.yaml:3: seeds[1]: 1 is listed twice (also at seeds[0])");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: [-1]\nwatermarks: {blackbox: {}}\n", DS_ERANGE,
                "t.yaml:3: seeds[0]: -1 is negative (expected an unsigned integer)");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: 1\nwatermarks: {blackbox: {}}\n", DS_EINVAL,
                "t.yaml:3: seeds: expected a list of seeds, got '1'");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\nwatermarks: {}\n", DS_EINVAL,
                "t.yaml:4: watermarks: expected at least one of whitebox, blackbox");
    expect_fail("name: x y\nmodel: {arch: mnist-mlp}\nseeds: [1]\nwatermarks: {blackbox: {}}\n", DS_EINVAL,
                "t.yaml:1: name: 'x y' is not a valid name");
    expect_fail("name: x\nmodel: {arch: mnist-cnn, hidden: 64}\nseeds: [1]\nwatermarks: {blackbox: {}}\n",
                DS_EINVAL, "t.yaml:2: model.hidden: applies to arch mnist-mlp only (arch is mnist-cnn)");
    expect_fail("name: x\nmodel: {arch: cifar10-wrn, depth: 20}\nseeds: [1]\nwatermarks: {blackbox: {}}\n",
                DS_ERANGE, "t.yaml:2: model.depth: 20 is not of the form 6n+4");
    expect_fail(BASE "train: {opt: adam, momentum: 0.5}\n", DS_EINVAL,
                "t.yaml:5: train.momentum: applies to opt sgd only (opt is adam)");
    expect_fail(BASE "train:\n  nesterov: yes\n", DS_EINVAL,
                "t.yaml:6: train.nesterov: expected true or false, got 'yes'");
    expect_fail(BASE "data: {format: tiff}\n", DS_EINVAL,
                "t.yaml:5: data.format: unknown value 'tiff' (expected auto, idx, cifar10)");
    expect_fail(BASE "data: [a]\n", DS_EINVAL, "t.yaml:5: data: expected a mapping of dir, format");
    expect_fail(BASE "seed: !!int 3\n", DS_EFORMAT, "t.yaml:5: YAML tag 'tag:yaml.org,2002:int' is not supported");
    expect_fail(BASE "attacks:\n  - {kind: noise, sigma: *nowhere}\n", DS_EFORMAT, "t.yaml:6: ");
    expect_fail(BASE "? [a]\n: 1\n", DS_EFORMAT, "t.yaml:5: a key must be a name, got a list");

    /* lists longer than the limits */
    char text[4096];
    int n = snprintf(text, sizeof text, "name: x\nmodel: {arch: mnist-mlp}\nseeds: [");
    for (int i = 0; i <= DS_SPEC_MAX_LIST; i++) n += snprintf(text + n, sizeof text - (size_t)n, "%s%d", i ? ", " : "", i);
    snprintf(text + n, sizeof text - (size_t)n, "]\nwatermarks: {blackbox: {}}\n");
    expect_fail(text, DS_ERANGE, "t.yaml:3: seeds: 65 values, at most 64");
    n = snprintf(text, sizeof text, BASE "attacks:\n");
    for (int i = 0; i <= DS_SPEC_MAX_ATTACKS; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "  - kind: permute\n");
    expect_fail(text, DS_ERANGE, "t.yaml:6: attacks: 33 attacks, at most 32");
    expect_fail(BASE "attacks:\n  - kind: finetune\n    mode: [ftll, ftal, rtll, rtal, ftll]\n    epochs: 1\n",
                DS_ERANGE, "t.yaml:7: attacks[0].mode: 5 values, at most 4");

    /* a NUL byte inside the text */
    static const char nul[] = "name: x\nseed: 1\0\n";
    ds_err err = {0};
    CHECK(ds_spec_parse(nul, sizeof nul - 1, "t.yaml", &spec, &err) == DS_EFORMAT &&
              strstr(err.msg, "t.yaml:2: NUL byte"),
          "NUL byte: %s", err.msg);
    ds_spec_free(&spec);
}

/* The bad inputs of docs/bad-input.md (case a), each with its whole message. */
static void test_bad_input_messages(void)
{
    /* malformed YAML */
    expect_exact("name: x\nseeds: [1, 2\n", DS_EFORMAT,
                 "t.yaml:3: YAML syntax error: flow sequence without a closing bracket");
    expect_exact(BASE "train:\n\tepochs: 2\n", DS_EFORMAT,
                 "t.yaml:6: YAML syntax error: tab character may not be used as indentation");
    expect_exact(BASE "a: b: c\n", DS_EFORMAT,
                 "t.yaml:5: YAML syntax error: invalid nested block mapping on the same line");
    /* unknown keys */
    expect_exact(BASE "trian: {epochs: 1}\n", DS_EINVAL,
                 "t.yaml:5: trian: unknown key (expected name, seed, data, model, train, seeds, nulls, "
                 "watermarks, attacks)");
    expect_exact(BASE "attacks:\n  - {kind: prune, rate: 0.5, epochs: 2}\n", DS_EINVAL,
                 "t.yaml:6: attacks[0].epochs: unknown key for kind prune (expected kind, schemes, seed, "
                 "scope, rate, finetune_epochs, bias, bn, lr, opt, batch, data_fraction, labels)");
    /* wrong types */
    expect_exact("name: x\nmodel: mnist-mlp\nseeds: [1]\nwatermarks: {blackbox: {}}\n", DS_EINVAL,
                 "t.yaml:2: model: expected a mapping with arch or file, got 'mnist-mlp'");
    expect_exact(BASE "train: {epochs: five}\n", DS_EINVAL,
                 "t.yaml:5: train.epochs: expected an integer, got 'five'");
    expect_exact(BASE "data: {dir: [a]}\n", DS_EINVAL, "t.yaml:5: data.dir: expected a string, got a list");
    /* out-of-range values */
    expect_exact(BASE "attacks:\n  - {kind: prune, rate: 1}\n", DS_ERANGE,
                 "t.yaml:6: attacks[0].rate: 1 is out of range [0, 1)");
    expect_exact(BASE "attacks:\n  - {kind: prune, rate: [0.5, 2.5]}\n", DS_ERANGE,
                 "t.yaml:6: attacks[0].rate[1]: 2.5 is out of range [0, 1)");
    expect_exact(BASE "train: {epochs: -1}\n", DS_ERANGE,
                 "t.yaml:5: train.epochs: -1 is out of range [0, 100000]");
    expect_exact(BASE "attacks:\n  - {kind: finetune, epochs: [1, -2]}\n", DS_ERANGE,
                 "t.yaml:6: attacks[0].epochs[1]: -2 is out of range [0, 100000]");
    expect_exact("name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\nwatermarks: {blackbox: {keys: 0}}\n",
                 DS_ERANGE, "t.yaml:4: watermarks.blackbox.keys: 0 is out of range [1, 10000]");
    expect_exact("name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\nwatermarks: {blackbox: {keys: 10001}}\n",
                 DS_ERANGE, "t.yaml:4: watermarks.blackbox.keys: 10001 is out of range [1, 10000]");
    expect_exact("name: x\nmodel: {arch: mnist-mlp}\nseeds: [1]\nwatermarks: {blackbox: {alpha: 1}}\n",
                 DS_ERANGE, "t.yaml:4: watermarks.blackbox.alpha: 1 is out of range (0, 1)");
    expect_exact(BASE "attacks:\n  - {kind: overwrite, keys: [5, 20000]}\n", DS_ERANGE,
                 "t.yaml:6: attacks[0].keys[1]: 20000 is out of range [1, 10000]");
    expect_exact(BASE "data: {dir: \"\"}\n", DS_EINVAL, "t.yaml:5: data.dir: empty (expected a directory)");
}

static void test_files(void)
{
    ds_err err = {0};
    CHECK(ds_spec_load("experiments/no-such-spec.yaml", &spec, &err) == DS_EIO, "missing file");
    CHECK(strstr(err.msg, "experiments/no-such-spec.yaml: cannot open: No such file or directory") != NULL,
          "message: %s", err.msg);
    CHECK(spec.text == NULL, "nothing kept");

    char path[TU_PATH_LEN];
    tu_path(path, "bad.yaml");
    const char *bad = BASE "train:\n  epochs: 2\n  batch: 0\n";
    tu_write_file(path, bad, strlen(bad));
    CHECK(ds_spec_load(path, &spec, &err) == DS_ERANGE, "bad file");
    char want[TU_PATH_LEN + 64];
    snprintf(want, sizeof want, "%s:7: train.batch: 0 is out of range [1, 65536]", path);
    CHECK(!strcmp(err.msg, want), "message \"%s\", expected \"%s\"", err.msg, want);

    CHECK(ds_spec_load(tu_root, &spec, &err) == DS_EIO && strstr(err.msg, ": not a regular file (a directory)"),
          "a directory: %s", err.msg);

    tu_path(path, "empty.yaml");
    tu_write_file(path, "", 0);
    CHECK(ds_spec_load(path, &spec, &err) == DS_EFORMAT && strstr(err.msg, "empty.yaml:1: empty document"),
          "empty file: %s", err.msg);

    ds_spec_free(NULL);
    ds_spec_free(&spec);
}

/* Seeds are decimal whatever YAML's int rules say: a leading zero is not octal, and hex
 * (0x), YAML 1.2 octal (0o) and binary (0b) forms are refused. */
static void test_decimal_seeds(void)
{
    ds_err err = {0};
    const char *text = "name: x\nseed: 010\nmodel: {arch: mnist-mlp}\nseeds: [010, 0100]\n"
                       "watermarks: {blackbox: {}}\n";
    CHECK(parse(text, &err) == DS_OK, "leading zeros parse: %s", err.msg);
    CHECK(spec.seed == 10 && spec.nseeds == 2 && spec.seeds[0] == 10 && spec.seeds[1] == 100,
          "leading zeros are decimal: seed %llu, seeds %llu %llu", (unsigned long long)spec.seed,
          (unsigned long long)spec.seeds[0], (unsigned long long)spec.seeds[1]);
    ds_spec_free(&spec);
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: [0x10]\nwatermarks: {blackbox: {}}\n",
                DS_EINVAL, "t.yaml:3: seeds[0]: expected an unsigned integer, got");
    expect_fail("name: x\nmodel: {arch: mnist-mlp}\nseeds: [0o10]\nwatermarks: {blackbox: {}}\n",
                DS_EINVAL, "t.yaml:3: seeds[0]: expected an unsigned integer, got");
    expect_fail(BASE "seed: 0x10\n", DS_EINVAL, "t.yaml:5: seed: expected an unsigned integer, got");
    expect_fail(BASE "seed: 0b10\n", DS_EINVAL, "t.yaml:5: seed: expected an unsigned integer, got");
}

/* The plan's identities, seeds and configurations (plan.h): a cell's seed is
 * ds_rng_mix(experiment seed, the first 64 bits of its identity), so replicates
 * and null models differ; replicates of one setting share a config, and a
 * different model or option does not. */
static void test_plan_seeds_and_configs(void)
{
    ds_err err = {0};
    const char *text = "name: p\nseed: 9\nmodel: {arch: mnist-mlp}\nseeds: [1, 2]\nnulls: 2\n"
                       "watermarks: {whitebox: {bits: 8}}\nattacks:\n  - {kind: prune, rate: [0.25, 0.5]}\n"
                       "  - {kind: finetune, epochs: [1, 2]}\n";
    CHECK_OK(parse(text, &err), &err);
    ds_plan p = {0};
    CHECK_OK(ds_plan_make(&spec, &p, &err), &err);
    int trains = 0, nulls = 0, bad_seed = 0, same_seed = 0;
    const ds_cell *base[2] = {NULL, NULL}, *null_model[2] = {NULL, NULL}, *prune[2] = {NULL, NULL},
                  *ft[2] = {NULL, NULL};
    for (int i = 0; i < p.n; i++) {
        const ds_cell *c = &p.cells[i];
        uint64_t id64 = strtoull(c->id, NULL, 16);
        bad_seed += c->seed != ds_rng_mix(spec.seed, id64);
        for (int j = 0; j < i; j++) same_seed += p.cells[j].seed == c->seed;
        if (c->kind == DS_CELL_TRAIN && !c->is_null_model && trains < 2) base[trains++] = c;
        if (c->kind == DS_CELL_TRAIN && c->is_null_model && nulls < 2) null_model[nulls++] = c;
        if (c->kind == DS_CELL_ATTACK && c->rep_seed == 1 && c->strength == 0.25) prune[0] = c;
        if (c->kind == DS_CELL_ATTACK && c->rep_seed == 1 && c->strength == 0.5) prune[1] = c;
        if (c->kind == DS_CELL_ATTACK && c->rep_seed == 1 && c->attack.kind == DS_ATTACK_FINETUNE)
            ft[c->strength == 2.0] = c;
    }
    CHECK(!bad_seed, "%d cells whose seed is not ds_rng_mix(seed, identity)", bad_seed);
    CHECK(!same_seed, "%d pairs of cells share a seed", same_seed);
    CHECK(base[0] && base[1] && strcmp(base[0]->id, base[1]->id) && !strcmp(base[0]->config, base[1]->config),
          "replicates: two identities, one config");
    CHECK(null_model[0] && null_model[1] && !strcmp(null_model[0]->config, null_model[1]->config) &&
              strcmp(null_model[0]->config, base[0]->config),
          "null models: one config, not the base model's");
    CHECK(prune[0] && prune[1] && !strcmp(prune[0]->config, prune[1]->config), "strengths share a config");
    CHECK(ft[0] && ft[1] && !strcmp(ft[0]->config, ft[1]->config) && strcmp(ft[0]->config, prune[0]->config),
          "finetune epochs (its strength) share a config, not prune's");
    char cfg0[DS_CELL_ID_HEX];
    snprintf(cfg0, sizeof cfg0, "%s", base[0] ? base[0]->config : "");
    ds_plan_free(&p);
    ds_spec_free(&spec);
    /* another width: another config */
    text = "name: p\nseed: 9\nmodel: {arch: mnist-mlp, hidden: 64}\nseeds: [1]\nwatermarks: {whitebox: {bits: 8}}\n";
    CHECK_OK(parse(text, &err), &err);
    CHECK_OK(ds_plan_make(&spec, &p, &err), &err);
    CHECK(p.n > 0 && strcmp(p.cells[0].config, cfg0), "another architecture, another config");
    ds_plan_free(&p);
    ds_spec_free(&spec);
}

int main(void)
{
    if (tu_root_create("spec")) return 1;
    RUN(test_quick_yaml);
    RUN(test_tiny_yaml);
    RUN(test_defaults);
    RUN(test_plan_seeds_and_configs);
    RUN(test_bad_specs);
    RUN(test_bad_input_messages);
    RUN(test_files);
    RUN(test_decimal_seeds);
    tu_root_remove();
    TEST_MAIN_END();
}
