/* spec.h - experiment specs: a YAML file (libfyaml) read into a validated struct.
 *
 * A spec names the data, the architecture and its training, the replicate seeds,
 * the number of null models, the watermarks to embed (with the sizes of their
 * secrets) and the attacks with their lists of strengths. The reference of every
 * key is docs/spec.md; experiments/quick.yaml is an example. Every refusal names
 * the file, the line and the key path ("quick.yaml:12: attacks[0].rate[1]: 1.5
 * is out of range [0, 1)"): an unknown key, a wrong type, an out-of-range value,
 * a duplicate key or a malformed document.
 */
#ifndef DEEPSIGNS_SPEC_H
#define DEEPSIGNS_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/attack.h"
#include "deepsigns/data.h"
#include "deepsigns/model.h"
#include "deepsigns/optim.h"
#include "deepsigns/status.h"

enum {
    DS_SPEC_MAX_LIST = 64,     /* longest list of strengths, seeds, bit sizes */
    DS_SPEC_MAX_ATTACKS = 32,  /* attack entries */
    DS_SPEC_MAX_VARIANTS = 4,  /* prune scopes, fine-tuning modes, dummy kinds */
};

/* How the base models are trained (and null models: the same, other seeds). */
typedef struct ds_spec_train {
    int epochs, batch;
    ds_optim_cfg opt;          /* opt, lr, momentum, nesterov, weight_decay, schedule */
} ds_spec_train;

typedef struct ds_spec_whitebox {
    int enabled;
    int nbits, bits[DS_SPEC_MAX_LIST]; /* N per target class; attacks use bits[0] */
    int targets;               /* s */
    float lambda;              /* lambda2 (ds_wb_opts) */
    float lambda1;             /* centre terms, 0 = off */
    int epochs;                /* embedding epochs on the trained base model */
    float lr;                  /* embedding SGD learning rate */
    char layer[DS_NAME_MAX];   /* "" = the architecture's default */
    int keys_per_class;
} ds_spec_whitebox;

typedef struct ds_spec_blackbox {
    int enabled;
    int nkeys, keys[DS_SPEC_MAX_LIST]; /* K; attacks use keys[0] */
    double alpha;
    int epochs;                /* fine-tuning epochs per round */
    float lr;
} ds_spec_blackbox;

/* One entry of `attacks:`; the plan makes one cell per (mark, variant, strength). */
typedef struct ds_spec_attack {
    ds_attack_cfg cfg;         /* kind and scalar knobs; defaults from ds_attack_defaults,
                                  the per-cell fields set to the first variant and strength;
                                  cfg.layer points into this struct: do not copy a ds_spec */
    char layer[DS_NAME_MAX];   /* cfg.layer points here when set, else NULL */
    int nvariants;             /* prune: scopes; finetune: modes; dummy: kinds (enum values);
                                  other kinds: one variant, 0 */
    int variants[DS_SPEC_MAX_VARIANTS];
    int nstrengths;            /* prune: rate; finetune: epochs; overwrite: keys (black-box
                                  marks); quantize: bits; noise: sigma; dummy: neurons;
                                  permute: none (one cell, strength 0) */
    double strengths[DS_SPEC_MAX_LIST];
    int nstrengths_wb;         /* overwrite only: bits N' against white-box marks */
    double strengths_wb[DS_SPEC_MAX_LIST];
    unsigned schemes;          /* bit (1 << DS_WM_WHITEBOX) | (1 << DS_WM_BLACKBOX): the
                                  marks it attacks; default: every enabled scheme */
    int line;                  /* line of the entry in the spec */
} ds_spec_attack;

typedef struct ds_spec {
    char path[512];            /* where it was read from */
    char *text;                /* the file's bytes, NUL-terminated (stored in results) */
    char name[64];
    uint64_t seed;             /* experiment seed */
    /* data */
    char data_dir[512];       /* where the data are read: a relative data.dir joined to the
                                 spec file's directory */
    char data_dir_text[512];  /* data.dir as the spec writes it: part of the cells' identities,
                                 which so do not depend on how the spec's path was typed */
    ds_data_format data_format;
    size_t train_limit, test_limit; /* use only the first n images (0: all) */
    /* model and training */
    ds_arch arch;              /* from ds_arch_defaults(name, shape from the data...) at
                                  plan time; the spec sets only arch.name (the rest is 0)
                                  and the overrides below */
    int hidden;                /* mnist-mlp hidden width override (0: default) */
    float dropout;             /* dropout override (< 0: the architecture's default) */
    int depth, widen;          /* cifar10-wrn overrides (0: default) */
    /* model.file: a model file (ours, ONNX or Keras; by content) as the base
     * model, instead of an architecture to train ("" when none): the path
     * joined to the spec's directory, as written, and its content's SHA-256
     * and size, read when the spec is (part of the cells' identities) */
    char model_file[512], model_file_text[512];
    char model_hash[65];
    uint64_t model_bytes;
    ds_spec_train train;
    int nseeds;
    uint64_t seeds[DS_SPEC_MAX_LIST]; /* replicate seeds: one base model each */
    int nulls;                 /* unmarked models per replicate seed */
    ds_spec_whitebox wb;
    ds_spec_blackbox bb;
    int nattacks;
    ds_spec_attack attacks[DS_SPEC_MAX_ATTACKS];
} ds_spec;

/* Read and validate a spec file. On failure the message names path, line and key. */
ds_status ds_spec_load(const char *path, ds_spec *out, ds_err *err);
/* ds_spec_load, then the overrides sets[0..nsets) ("train.epochs=1",
 * "attacks.0.rate=[0.5]": a key path, list items by index, and a YAML value)
 * applied to the document and the result read as a spec: every override is
 * checked as that key in the file would be. out->text is the text that ran: a
 * comment naming the overrides, then the document. An error in an override is
 * prefixed "with --set: ". */
ds_status ds_spec_load_set(const char *path, const char *const *sets, int nsets, ds_spec *out, ds_err *err);
/* The same from text in memory; name is used in messages. */
ds_status ds_spec_parse(const char *text, size_t len, const char *name, ds_spec *out, ds_err *err);
void ds_spec_free(ds_spec *s); /* frees text; accepts NULL */

#endif
