/* attack.h - what a thief does to a marked model (../shared/METHOD.md section 4).
 *
 * Each attack is a library function on a model; ds_attack_run applies one
 * configured attack and reports its cost, its realised strength, the L2 norm of
 * the parameter change and the test accuracy after. Attacks that need data
 * (fine-tuning, overwriting, pruning followed by fine-tuning) draw it only from
 * the attacker's part of the split, which holds neither the owner's key images
 * nor the test set. Every random choice comes from the attack's seed.
 */
#ifndef DEEPSIGNS_ATTACK_H
#define DEEPSIGNS_ATTACK_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/data.h"
#include "deepsigns/model.h"
#include "deepsigns/optim.h"
#include "deepsigns/status.h"
#include "deepsigns/wm.h"

typedef enum ds_attack_kind {
    DS_ATTACK_PRUNE = 1,   /* magnitude pruning (+ optional masked fine-tuning) */
    DS_ATTACK_FINETUNE,    /* FTLL / FTAL / RTLL / RTAL */
    DS_ATTACK_OVERWRITE,   /* embed the attacker's own watermark */
    DS_ATTACK_QUANTIZE,    /* uniform k-bit weights, per layer */
    DS_ATTACK_NOISE,       /* Gaussian weight noise scaled to each layer's weight std */
    DS_ATTACK_PERMUTE,     /* function-preserving neuron / channel permutation */
    DS_ATTACK_DUMMY,       /* function-preserving dummy neurons */
    DS_ATTACK_SCALE,       /* function-preserving positive per-unit rescaling */
    DS_ATTACK_CHAIN,       /* function-preserving steps in a row, then optional fine-tuning */
} ds_attack_kind;

enum { DS_ATTACK_MAX_STEPS = 8 };

typedef enum ds_prune_scope { DS_PRUNE_LAYER = 0, DS_PRUNE_GLOBAL } ds_prune_scope;
typedef enum ds_ft_mode { DS_FT_FTLL = 0, DS_FT_FTAL, DS_FT_RTLL, DS_FT_RTAL } ds_ft_mode;
typedef enum ds_dummy_kind { DS_DUMMY_CLIQUE = 0, DS_DUMMY_SPLIT } ds_dummy_kind;

const char *ds_attack_kind_name(ds_attack_kind k);   /* "prune", "finetune", ... */
ds_status ds_attack_kind_parse(const char *s, ds_attack_kind *out, ds_err *err);
const char *ds_ft_mode_name(ds_ft_mode m);           /* "ftll", ... */
ds_status ds_ft_mode_parse(const char *s, ds_ft_mode *out, ds_err *err);
const char *ds_dummy_kind_name(ds_dummy_kind k);     /* "clique", "split" */
ds_status ds_dummy_kind_parse(const char *s, ds_dummy_kind *out, ds_err *err);

/* ---- the single attacks ---- */

/* Zero the floor(rate * n) smallest-magnitude entries of each weight tensor
 * (layer scope) or of all weight tensors together (global scope); with
 * include_bias / include_bn also of the biases / batch-norm gamma and beta (each
 * as its own tensor in layer scope). Ties are broken by position, so exactly that
 * many entries are zeroed. mask (if non-NULL, [nparams]) gets 0 at pruned entries
 * and 1 elsewhere. *pruned and *total (if non-NULL) count entries of the pruned
 * tensors. rate in [0, 1). */
ds_status ds_attack_prune(ds_model *m, ds_prune_scope scope, double rate, int include_bias,
                          int include_bn, uint8_t *mask, size_t *pruned, size_t *total,
                          ds_err *err);

/* Quantize every weight tensor to 2^bits uniform levels between its min and max
 * (round to nearest). bits in [1, 32]; 32 leaves the model unchanged. */
ds_status ds_attack_quantize(ds_model *m, int bits, ds_err *err);

/* Add N(0, (sigma * std(W))^2) to every entry of every weight tensor W. sigma >= 0. */
ds_status ds_attack_noise(ds_model *m, double sigma, uint64_t seed, ds_err *err);

/* Permute the units of hidden layer `layer` (a dense or conv node, or a node
 * after it such as its ReLU; NULL: every hidden dense/conv layer whose output
 * feeds exactly one dense/conv layer through element-wise nodes) by a random
 * permutation, applying the inverse to the next layer's input weights and
 * permuting any batch norm in between along: the function is unchanged.
 * *layers (if non-NULL) gets the number of layers permuted. */
ds_status ds_attack_permute(ds_model *m, const char *layer, uint64_t seed, int *layers,
                            ds_err *err);

/* A new model with `neurons` extra units in hidden layer `layer` (NULL: every
 * eligible hidden layer, as for permute) that leave the function unchanged:
 * clique adds units whose outgoing weights cancel in pairs/groups; split
 * replaces randomly chosen units by copies whose outgoing weights sum to the
 * original's. The architecture records the extra units (ds_arch.extra). NULL on
 * failure. */
ds_model *ds_attack_dummy(const ds_model *m, ds_dummy_kind kind, const char *layer, int neurons,
                          uint64_t seed, ds_err *err);

/* Multiply each unit u of hidden layer `layer` (NULL: every eligible one, as for
 * permute) by its own factor c_u = exp(spread * U(-1, 1)) and its outgoing weights
 * by 1 / c_u; the unit is scaled on the last batch norm on the way to the next
 * layer (gamma and beta) or, without one, on its incoming weights and bias. The
 * function is unchanged (ReLU and pooling are positively homogeneous). spread in
 * [0, DS_ATTACK_SCALE_MAX_SPREAD]. */
#define DS_ATTACK_SCALE_MAX_SPREAD 20.0
ds_status ds_attack_scale(ds_model *m, const char *layer, double spread, uint64_t seed, int *layers,
                          ds_err *err);

/* ---- one configured attack ---- */

typedef struct ds_attack_cfg {
    ds_attack_kind kind;
    uint64_t seed;
    /* prune */
    ds_prune_scope scope;
    double rate;
    int prune_bias, prune_bn;
    /* fine-tuning (finetune; prune with epochs > 0; overwrite's training) */
    ds_ft_mode mode;
    int epochs;
    int batch;
    ds_optim_cfg opt;
    double data_fraction;     /* of the attacker pool, (0, 1] */
    int predicted_labels;     /* 1: label the attacker's data with the victim's predictions */
    /* overwrite: the attacker's own watermark */
    ds_wm_scheme scheme;
    int keys;                 /* black-box K' */
    int bits;                 /* white-box N' bits per class; quantize: bits */
    int targets;              /* white-box s' target classes */
    const char *layer;        /* overwrite (white-box), permute, dummy; NULL: default */
    /* noise */
    double sigma;
    /* dummy */
    ds_dummy_kind dummy;
    int neurons;
    /* scale */
    double spread;            /* log-range of the per-unit factors */
    /* chain: permute, scale and dummy steps (each with the knobs above), in order;
     * then `epochs` of FTAL fine-tuning (0: none) */
    ds_attack_kind steps[DS_ATTACK_MAX_STEPS];
    int nsteps;
    int progress;
} ds_attack_cfg;

/* Defaults: prune layer 0.5; finetune ftal 10 epochs SGD lr 0.01 momentum 0.9,
 * batch 128, all of the attacker pool, true labels; overwrite blackbox K' 20,
 * white-box 32 bits 2 targets, 2 epochs; quantize 8 bits; noise sigma 0.1; dummy
 * clique 8 neurons; scale spread 2; chain dummy, permute, scale (so the dummy
 * units sit at random positions, rescaled) and 0 epochs. */
ds_attack_cfg ds_attack_defaults(ds_attack_kind kind);

/* The data an attack may use and the test set it is measured on. */
typedef struct ds_attack_data {
    const ds_dataset *train;  /* the training images (attacker pool indexes into it) */
    const uint32_t *pool;     /* the attacker's indices */
    size_t npool;
    const ds_dataset *test;   /* NULL: accuracy not measured (-1) */
} ds_attack_data;

typedef struct ds_attack_report {
    double seconds;           /* wall time of the attack itself */
    double realised;          /* achieved strength: sparsity, bits, sigma, epochs, K', layers, neurons */
    char realised_what[24];   /* what `realised` is: "sparsity", "bits", ... */
    double delta_l2;          /* ||theta_after - theta_before||_2 over the parameters both
                                 share (dummy: plus the norm of the added ones) */
    double acc_before, acc_after; /* test accuracy, -1 when no test set */
    size_t used_samples;      /* attacker samples trained on (0 if none) */
} ds_attack_report;

/* ---- the attack kinds: one table ----
 *
 * Every attack kind has one entry (src/attack/kinds.c): its name, its variant
 * axis (the names a spec lists under variant_key) and its strength axis (the
 * numbers a spec lists under strength.key, with their range), how a variant and
 * a strength are set in a configuration and read back, and how the attack runs.
 * The spec reader, the plan, the CLI, ds_attack_run and the results file all read
 * this table: a new kind is one entry here and the attack's own file. */
typedef struct ds_attack_axis {
    const char *key;          /* spec key (and CLI option without "--"); NULL: no axis */
    double lo, hi;            /* the range */
    int integer;              /* whole numbers only */
    int hi_open;              /* x < hi (else x <= hi) */
    int required;             /* a spec entry must give it */
} ds_attack_axis;

typedef struct ds_attack_info {
    ds_attack_kind kind;
    const char *name;                 /* "prune", ... */
    const char *variant_key;          /* "scope", "mode", "variant"; NULL: no variants */
    const char *variant_what;         /* for messages: "fine-tuning mode", ... */
    const char *const *variants;      /* names, indexed by the variant's value */
    int nvariants;
    ds_attack_axis strength;          /* the swept axis */
    ds_attack_axis strength_wb;       /* overwrite of a white-box mark: its own axis (bits) */
    const char *const *extra_keys;    /* the kind's other spec keys, NULL-terminated */
    /* set variant v and strength x (against a mark of `scheme`) in c; read them back */
    void (*set)(ds_attack_cfg *c, int v, double x, ds_wm_scheme scheme);
    void (*get)(const ds_attack_cfg *c, ds_wm_scheme scheme, int *v, double *x);
    /* apply c to *m (which it may replace); rep->realised and realised_what set */
    ds_status (*run)(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                     ds_attack_report *rep, ds_err *err);
} ds_attack_info;

int ds_attack_kind_count(void);                          /* entries in the table */
const ds_attack_info *ds_attack_info_at(int i);          /* 0 <= i < count, in display order */
const ds_attack_info *ds_attack_info_of(ds_attack_kind k); /* NULL for an unknown kind */
/* 1 for the kinds a chain may hold: permute, scale, dummy. */
int ds_attack_step_ok(ds_attack_kind k);
/* The variant's name ("" when the kind has none or v is out of range). */
const char *ds_attack_variant_name(const ds_attack_info *a, int v);
/* The variant named s; the message lists the names. */
ds_status ds_attack_variant_parse(const ds_attack_info *a, const char *s, int *v, ds_err *err);

/* Apply attack c to *m. *m may be replaced by a new model (dummy); the old one
 * is then freed. */
ds_status ds_attack_run(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                        ds_attack_report *rep, ds_err *err);

/* ||a - b||_2 over the tensors of the same name: entries at the same
 * multi-index in both compare with each other; entries that only b has (a
 * tensor a lacks, or units appended by ds_attack_dummy) count with their full
 * value. */
double ds_model_param_distance(const ds_model *a, const ds_model *b);

#endif
