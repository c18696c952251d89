/* wm.h - DeepSigns watermarks: the owner's secrets (keys), their key file and
 * commitment, white-box embedding and extraction, black-box key generation,
 * embedding and detection. See ../shared/METHOD.md sections 2, 3 and 6.
 *
 * A key holds everything verification needs, including the key images, so a
 * claim can be checked from the suspect model and the key file alone. The
 * commitment is SHA-256 over the key's canonical bytes (docs/key-file.md); it is
 * stored in a marked model and printed for the owner to publish, and a key that
 * matches no commitment is refused.
 */
#ifndef DEEPSIGNS_WM_H
#define DEEPSIGNS_WM_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/data.h"
#include "deepsigns/model.h"
#include "deepsigns/status.h"
#include "deepsigns/train.h"

typedef enum ds_wm_scheme {
    DS_WM_WHITEBOX = 1,
    DS_WM_BLACKBOX = 2,
} ds_wm_scheme;

/* Root attribute values of a key file. */
#define DS_KEY_MAGIC "DEEPSIGNS-KEY"
typedef enum ds_key_format {
    DS_KEY_FORMAT_V1 = 1,     /* no committed white-box claim level (it is DS_WB_ALPHA) */
    DS_KEY_FORMAT_V2 = 2,     /* the white-box claim level is committed with the key */
    DS_KEY_FORMAT_V3 = 3,     /* a white-box key may hold the marked layer's reference
                                 profiles, for realignment (src/wm/align.c) */
    DS_KEY_FORMAT_CURRENT = DS_KEY_FORMAT_V3,
} ds_key_format;

/* White-box claim level of keys that do not commit one (format 1), and the
 * default of new keys: owned when the bit p-value is below it. */
#define DS_WB_ALPHA 1e-4

enum { DS_COMMIT_HEX = 65 }; /* 64 hex digits + NUL */

/* Probe images of a new white-box key's reference (ds_wb_opts.probes). */
enum { DS_WB_PROBES = 256, DS_WB_PROBES_MAX = 65536 };

/* White-box secrets: N bits for each of s target classes, carried by the mean
 * activation of layer `layer` (width M) over the key images of each class. */
typedef struct ds_wb_key {
    char layer[DS_NAME_MAX];  /* node name in the model, e.g. "relu_2" */
    int M;                    /* the layer's output width */
    int s, N;                 /* target classes, bits per class */
    int *targets;             /* [s] target class labels */
    uint8_t *bits;            /* [s, N] the signature */
    float *A;                 /* [N, M] projection, i.i.d. standard normal */
    float lambda1;            /* weight of the class-centre terms (0: off) */
    float lambda2;            /* weight of the bits at the class means */
    double alpha;             /* claim level: owned when the bit p-value is below it
                                 (committed; format 1 keys: DS_WB_ALPHA) */
    /* The reference for realignment (format 3; probes == 0: none). The layer's
     * units are its channels (c of a c x h x w node; a dense layer's features),
     * each unit's profile its mean activation over the h x w positions, taken
     * on the marked model for probe images of every class (not key images). */
    int probes;               /* P probe images */
    int units;                /* U: the layer's units; M = U * positions */
    uint8_t *probe_x;         /* [P, c, h, w] raw pixels, the key images' shape */
    float *profiles;          /* [U, P] */
} ds_wb_key;

/* Black-box secrets: K key images and the labels the marked model answers. */
typedef struct ds_bb_key {
    int K;
    double alpha;             /* detection false-positive bound p (theta from it) */
} ds_bb_key;

/* A key of either scheme. Key images (white-box: training images of the target
 * classes; black-box: the noise keys) are stored as raw pixels. */
typedef struct ds_wm_key {
    ds_wm_scheme scheme;
    int format;               /* ds_key_format it is saved and committed as; 0: current */
    char arch[32];            /* architecture of the model it was made for */
    int classes;              /* the model's number of classes */
    uint64_t seed;            /* the seed that generated the secrets (secret itself
                                 unless the owner chose it) */
    ds_wb_key wb;             /* scheme == DS_WM_WHITEBOX */
    ds_bb_key bb;             /* scheme == DS_WM_BLACKBOX */
    /* key images: n of shape c x h x w, their labels, and (white-box) their
     * indices in the training set they came from (-1 if none) */
    size_t n;
    int c, h, w;
    uint8_t *x;               /* [n, c, h, w] */
    uint8_t *y;               /* [n] */
    int64_t *source_index;    /* [n] */
} ds_wm_key;

void ds_wm_key_free(ds_wm_key *k);     /* frees the arrays and zeroes k; accepts NULL */
/* The claim level committed in the key: white-box wb.alpha, black-box bb.alpha. */
double ds_wm_key_alpha(const ds_wm_key *k);
const char *ds_wm_scheme_name(ds_wm_scheme s);  /* "whitebox" / "blackbox" */
ds_status ds_wm_scheme_parse(const char *s, ds_wm_scheme *out, ds_err *err);

/* The key images as a dataset view (no copy; the key keeps ownership). */
ds_dataset ds_wm_key_images(const ds_wm_key *k);

/* ---- key file and commitment ---- */

/* Write the key to path (HDF5, created with mode 0600, atomically). */
ds_status ds_key_save(const ds_wm_key *k, const char *path, ds_err *err);
/* Read and validate a key file (magic, version, every shape consistent and sane,
 * checked before allocating). *loose_perms (if non-NULL) is set to 1 when the
 * file is readable or writable by group or others. */
ds_status ds_key_load(const char *path, ds_wm_key *out, int *loose_perms, ds_err *err);
/* The bytes ds_key_save would write (malloc'd), and ds_key_load from bytes
 * (name used in messages). */
ds_status ds_key_save_image(const ds_wm_key *k, void **image, size_t *n, ds_err *err);
ds_status ds_key_load_image(const void *image, size_t n, const char *name, ds_wm_key *out,
                            ds_err *err);
/* SHA-256 (libsodium) over the canonical bytes of the key, as 64 lowercase hex digits. */
ds_status ds_key_commitment(const ds_wm_key *k, char hex[DS_COMMIT_HEX], ds_err *err);

/* ---- white-box ---- */

typedef struct ds_wb_opts {
    const char *layer;        /* node name or index; NULL: the default for the architecture */
    int s, N;                 /* target classes and bits per class */
    const int *targets;       /* [s] or NULL: drawn at random */
    int keys_per_class;       /* key images per target class (from the key pool) */
    float lambda1;            /* class-centre terms (METHOD's L_centre, L_sep, L_norm,
                                 L_bits on the centres); 0 (off) by default */
    float lambda2;            /* bits at the batch mean of each target class's
                                 activations (src/wm/wb_loss.h); 0.003 by default */
    double alpha;             /* claim level committed in the key (DS_WB_ALPHA) */
    int probes;               /* probe images of the reference (256; 0: no reference,
                                 the key then cannot realign a suspect layer) */
    uint64_t seed;
} ds_wb_opts;

ds_wb_opts ds_wb_defaults(void);
/* The default white-box layer of an architecture (mnist-mlp: "relu_2", the second
 * hidden layer after ReLU, before dropout). */
const char *ds_wb_default_layer(const ds_model *m);

/* Draw the secrets for model m: targets, bits, A, key images of the target
 * classes from pool[0..npool) of train, and o->probes probe images of any class
 * from the rest of the pool (their profiles are filled by ds_wb_embed). */
ds_status ds_wb_keygen(const ds_model *m, const ds_dataset *train, const uint32_t *pool,
                       size_t npool, const ds_wb_opts *o, ds_wm_key *out, ds_err *err);

/* Embed by training m on idx[0..n) of train with cfg plus the DeepSigns loss.
 * With the centre terms on (lambda1 > 0), from_scratch: centres start uniform in
 * [0,1); otherwise from a per-class Gaussian-mixture fit of the layer's
 * activations (the model is trained). Then the key's reference profiles (if it
 * has probes) are taken on the marked model. */
ds_status ds_wb_embed(ds_model *m, ds_wm_key *k, const ds_dataset *train,
                      const uint32_t *idx, size_t n, const ds_train_cfg *cfg, int from_scratch,
                      ds_train_stats *stats, ds_err *err);

/* What realigning a suspect layer to the key's reference did. Each suspect
 * unit's profile over the probes is compared with the reference units' (Pearson
 * correlation, invariant to a positive per-unit scale); an optimal one-to-one
 * assignment (ds_assign_max) pairs them; a suspect unit left over whose profile
 * is a multiple of a reference unit's is merged into it (a split unit);
 * the others are dummies and are left out. Each used unit is divided by its
 * scale (least squares on the profiles) and the units of one reference unit are
 * averaged, which gives the activations in the key's order. */
typedef struct ds_wb_alignment {
    int units, suspect_units; /* U of the reference, U' of the suspect layer */
    int matched;              /* reference units paired with a suspect unit */
    int merged;               /* further suspect units merged into a paired unit */
    int dummies;              /* suspect units left out */
    int missing;              /* reference units with no suspect unit (live ones) */
    int dead;                 /* reference units constant over the probes (unmatchable) */
    int identity;             /* every unit paired with itself at scale 1: nothing undone */
    int trusted;              /* the match is good enough to decide on (DS_WB_ALIGN_CORR_MIN,
                                 DS_WB_ALIGN_MATCHED_MIN); else the verdict ignores it */
    double corr_mean, corr_min; /* over the pairs */
    double seconds;           /* the matching's wall time */
    int *map;                 /* [U'] reference unit of each suspect unit, -1: left out */
    double *scale;            /* [U'] */
} ds_wb_alignment;

/* An alignment is trusted (used for the verdict) when its pairs' mean
 * correlation and the share of live reference units paired reach these. Set
 * from measurement (docs/guarantees.md): function-preserving attacks give 1.0
 * and 1.0, unmarked models of the same architecture 0.71-0.73 and 0.73-0.81;
 * an untrusted alignment of an unmarked model biases its BER towards the key's
 * bits (mean 0.40 against 0.49 unaligned, 30 models), so it must not decide. */
#define DS_WB_ALIGN_CORR_MIN 0.9
#define DS_WB_ALIGN_MATCHED_MIN 0.9

/* Frees the arrays of an alignment (ds_wb_extract fills one) and zeroes it; accepts NULL. */
void ds_wb_alignment_free(ds_wb_alignment *a);

/* Take k's reference profiles on m (its marked model) for the probe images k
 * already holds (wb.probes of them; wb.units is set from the layer). */
ds_status ds_wb_reference_take(ds_model *m, ds_wm_key *k, ds_err *err);

typedef struct ds_wb_result {
    int errors, total;        /* wrong bits of s*N */
    double ber;
    double p_value;           /* P(Binomial(sN, 1/2) <= errors) */
    uint8_t *decoded;         /* [s, N] */
    double *margins;          /* [s, N] |a_j . mu_k| */
    double *ber_class;        /* [s] */
    int s, N;
    /* With a reference in the key, alignment is tried (align filled); when it is
     * trusted the figures above are after it, otherwise they are the unaligned ones. */
    int align_tried;          /* 1: align filled */
    int aligned;              /* 1: the figures above are realigned */
    ds_wb_alignment align;
    int raw_checkable;        /* the layer has the key's width: extraction without
                                 alignment ran */
    int raw_errors;           /* its wrong bits and BER (reported, never the verdict) */
    double raw_ber;
} ds_wb_result;

/* Extract the signature from m. A key with a reference realigns the layer
 * first; a trusted alignment gives the figures (one test: the unaligned BER is
 * only reported beside them); an untrusted one, or a key without a reference,
 * needs the layer at the key's width (DS_EKEY otherwise). */
ds_status ds_wb_extract(ds_model *m, const ds_wm_key *k, ds_wb_result *out, ds_err *err);
void ds_wb_result_free(ds_wb_result *r);

/* ---- black-box ---- */

typedef struct ds_bb_opts {
    int K;                    /* keys wanted (20 by default) */
    int candidates_factor;    /* candidates per key per round, 20..40 (default 30) */
    double alpha;             /* false-positive bound p (1e-4 in the reference code) */
    int use_gmm;              /* rank candidates by low likelihood under a GMM fit (default 1) */
    int epochs;               /* maximum fine-tuning epochs per round */
    int max_rounds;           /* rounds of drawing more candidates if too few keys stick */
    float lr;                 /* SGD, Nesterov momentum 0.9 */
    int batch;
    int keys_per_batch;       /* candidate images mixed into every batch */
    uint64_t seed;
    int progress;
} ds_bb_opts;

ds_bb_opts ds_bb_defaults(void);

/* Generate keys for the trained model m and embed them by fine-tuning m on
 * idx[0..n) of train mixed with the candidates; out gets the K keys (those the
 * unmarked model got wrong and the marked model gets right). */
ds_status ds_bb_embed(ds_model *m, const ds_dataset *train, const uint32_t *idx, size_t n,
                      const ds_bb_opts *o, ds_wm_key *out, ds_err *err);

typedef struct ds_bb_result {
    int K, mismatches, theta;
    double p_value;           /* P(Binomial(K, 1 - 1/C) <= mismatches) */
    int owned;                /* mismatches < theta */
} ds_bb_result;

ds_status ds_bb_detect(ds_model *m, const ds_wm_key *k, ds_bb_result *out, ds_err *err);

/* Whether K keys on a C-class model can ever show ownership at alpha (the
 * threshold is at least 1); DS_ERANGE with the smallest K that can otherwise. */
ds_status ds_bb_keys_check(int K, int classes, double alpha, ds_err *err);

/* ---- the owner's check ---- */

/* One check of key k on a model, whatever its scheme: white-box extraction
 * (owned when p_value < alpha) or black-box detection (owned when the
 * mismatches stay below the threshold theta that alpha sets). */
typedef struct ds_wm_check {
    ds_wm_scheme scheme;
    ds_wb_result wb;          /* filled for a white-box key */
    ds_bb_result bb;          /* filled for a black-box key */
    double p_value;           /* the scheme's p-value */
    double alpha;             /* the claim level applied */
    int owned;                /* the watermark is present at that level */
} ds_wm_check;

/* Run the check at claim level alpha: 0 for the level committed in the key; a
 * smaller one is stricter and allowed, a larger one is refused (DS_ERANGE: the
 * rule of a claim is fixed when the key is made). *out is zeroed first and
 * needs ds_wm_check_free. */
ds_status ds_wm_check_run(ds_model *m, const ds_wm_key *k, double alpha, ds_wm_check *out,
                          ds_err *err);
void ds_wm_check_free(ds_wm_check *c);

/* What a claim's key was matched against. Only a commitment the owner published
 * before the dispute can support a claim; one stored in the suspect model file
 * is evidence anyone could have written there. */
typedef enum ds_claim_basis {
    DS_CLAIM_PUBLISHED = 1,   /* the commitment given by the owner (published) */
    DS_CLAIM_UNPUBLISHED = 2, /* none given; the key matches the model file's own */
} ds_claim_basis;

/* Which commitment key k matches. With a given one (64 hex digits), it alone
 * decides: DS_CLAIM_PUBLISHED, or DS_EKEY when it is not the key's (whatever
 * the model file stores). Without one, a commitment stored in the model file
 * model_path (NULL: a foreign file that has none) matching the key gives
 * DS_CLAIM_UNPUBLISHED, and none DS_EKEY. *basis is set on success. */
ds_status ds_key_check_commitment(const char *model_path, const ds_wm_key *k, const char *given,
                                  ds_claim_basis *basis, ds_err *err);

#endif
