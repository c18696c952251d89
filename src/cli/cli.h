/* cli.h - shared pieces of the deepsigns subcommands: option parsing with
 * range checks, data loading with the standard split, error reporting. Only
 * the CLI prints errors and chooses exit codes. */
#ifndef DEEPSIGNS_CLI_H
#define DEEPSIGNS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "deepsigns/data.h"
#include "deepsigns/train.h"
#include "deepsigns/ranges.h"
#include "deepsigns/status.h"
#include "deepsigns/wm.h"

/* Exit codes: 0 success (or "owned" for verify), 1 a negative verdict, 2 an
 * error, 3 (verify) the watermark is present but the key matches only the
 * commitment stored in the model: unpublished evidence, not a claim. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_NO = 1, CLI_EXIT_ERROR = 2, CLI_EXIT_UNPUBLISHED = 3 };

/* Print "deepsigns CMD: <message>" to stderr and return CLI_EXIT_ERROR. */
int cli_fail(const char *cmd, const ds_err *err);
int cli_failf(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a whole-string number within [lo, hi]; the option name goes in the message. */
ds_status cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out, ds_err *err);
/* A comma-separated list of at most max integers in [lo, hi] into out[], *n of them. */
ds_status cli_parse_int_list(const char *opt, const char *s, long lo, long hi, int *out, int max, int *n,
                             ds_err *err);
ds_status cli_parse_u64(const char *opt, const char *s, uint64_t *out, ds_err *err);
ds_status cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out, ds_err *err);
/* The same with open ends: lo < x (lo_open), x < hi (hi_open); the message
 * writes the range as the spec does, e.g. [0, 1). */
ds_status cli_parse_real(const char *opt, const char *s, double lo, double hi, int lo_open, int hi_open,
                         double *out, ds_err *err);
/* The same in the range of a setting (ranges.h: the one the spec reader and the
 * library check): an integer setting into a long, any other into a double. */
ds_status cli_parse_int_in(const char *opt, const char *s, ds_setting id, long *out, ds_err *err);
ds_status cli_parse_real_in(const char *opt, const char *s, ds_setting id, double *out, ds_err *err);
/* A published key commitment: exactly 64 hex digits. */
ds_status cli_parse_commitment(const char *opt, const char *s, const char **out, ds_err *err);

/* The owner's key from path, with a warning on stderr (naming cmd) when the
 * file is readable or writable by others. */
ds_status cli_load_key(const char *cmd, const char *path, ds_wm_key *k, ds_err *err);

/* An ownership claim of key k (from key_path) on model m (from model_path; a
 * foreign file, such as a Keras one, has no stored commitment): the key must
 * fit the model (*out gets the check at claim level alpha, 0 for the key's own)
 * and match the given commitment, or without one the stored one (*basis says
 * which). Errors name the model and the key. */
ds_status cli_check_claim(ds_model *m, const char *model_path, int foreign, const ds_wm_key *k,
                          const char *key_path, const char *given, double alpha, ds_wm_check *out,
                          ds_claim_basis *basis, ds_err *err);

/* The verdict of a check on its basis: only a published commitment makes a
 * present watermark a claim. */
typedef enum cli_verdict {
    CLI_VERDICT_OWNED = 0,        /* present, published commitment */
    CLI_VERDICT_NOT_SHOWN = 1,    /* absent at the claim level */
    CLI_VERDICT_UNPUBLISHED = 3,  /* present, but only the model's own commitment matched */
} cli_verdict;
cli_verdict cli_claim_verdict(const ds_wm_check *c, ds_claim_basis basis);
/* What realignment did, for the JSON of verify and attack --key: ', "aligned":
 * ..., "ber_unaligned": ..., "alignment": {...}' (empty for a black-box check). */
void cli_alignment_json(const ds_wm_check *c, char *buf, size_t len);
/* The same as lines of text (nothing for a key without a reference). */
void cli_alignment_print(const ds_wm_check *c);
/* "owned", "not shown", "unpublished" (the JSON "verdict"); the exit code is the enum value. */
const char *cli_verdict_name(cli_verdict v);
/* What the commitment of a basis was: "published (given)" or "stored in the model (unpublished)". */
const char *cli_basis_name(ds_claim_basis b);

/* Set the BLAS thread count (0: leave OpenBLAS's own choice). */
void cli_set_threads(int threads);

/* Load train and test sets from dir (NULL: the default Fashion-MNIST). */
ds_status cli_load_data(const char *dir, ds_data_format fmt, ds_dataset *train, ds_dataset *test,
                        ds_err *err);

/* ---- options shared by the commands that train (train, embed) ---- */

/* getopt_long codes of the shared options; commands number their own from CLI_OPT_OWN. */
enum {
    CLI_OPT_DATA = 256, CLI_OPT_FORMAT, CLI_OPT_EPOCHS, CLI_OPT_BATCH, CLI_OPT_OPT, CLI_OPT_LR,
    CLI_OPT_MOMENTUM, CLI_OPT_NESTEROV, CLI_OPT_WD, CLI_OPT_SCHED, CLI_OPT_STEP_EVERY,
    CLI_OPT_GAMMA, CLI_OPT_SEED, CLI_OPT_SPLIT_SEED, CLI_OPT_THREADS, CLI_OPT_JSON, CLI_OPT_QUIET,
    CLI_OPT_NORMALIZE,
    CLI_OPT_OWN = 512,
};

/* struct option entries for the shared options (splice into a command's table),
 * in groups: a command that trains takes them all (CLI_TRAIN_LONGOPTS); attack,
 * which trains with its own schedule, the data, optimizer and run groups. */
#define CLI_DATA_LONGOPTS                                               \
    {"data", required_argument, NULL, CLI_OPT_DATA},                    \
    {"format", required_argument, NULL, CLI_OPT_FORMAT},                \
    {"split-seed", required_argument, NULL, CLI_OPT_SPLIT_SEED}
#define CLI_OPTIM_LONGOPTS                                              \
    {"epochs", required_argument, NULL, CLI_OPT_EPOCHS},                \
    {"batch", required_argument, NULL, CLI_OPT_BATCH},                  \
    {"opt", required_argument, NULL, CLI_OPT_OPT},                      \
    {"lr", required_argument, NULL, CLI_OPT_LR},                        \
    {"momentum", required_argument, NULL, CLI_OPT_MOMENTUM}
#define CLI_SCHED_LONGOPTS                                              \
    {"nesterov", no_argument, NULL, CLI_OPT_NESTEROV},                  \
    {"weight-decay", required_argument, NULL, CLI_OPT_WD},              \
    {"sched", required_argument, NULL, CLI_OPT_SCHED},                  \
    {"step-every", required_argument, NULL, CLI_OPT_STEP_EVERY},        \
    {"gamma", required_argument, NULL, CLI_OPT_GAMMA}
#define CLI_RUN_LONGOPTS                                                \
    {"seed", required_argument, NULL, CLI_OPT_SEED},                    \
    {"threads", required_argument, NULL, CLI_OPT_THREADS},              \
    {"json", no_argument, NULL, CLI_OPT_JSON},                          \
    {"quiet", no_argument, NULL, CLI_OPT_QUIET}
#define CLI_TRAIN_LONGOPTS                                              \
    CLI_DATA_LONGOPTS, CLI_OPTIM_LONGOPTS, CLI_SCHED_LONGOPTS, CLI_RUN_LONGOPTS, \
    {"normalize", required_argument, NULL, CLI_OPT_NORMALIZE}

/* The help text of the shared options. */
#define CLI_TRAIN_HELP                                                                    \
    "  --data DIR         MNIST-format or CIFAR-10 directory (default " DS_DEFAULT_DATA_DIR ")\n" \
    "  --format F         auto | idx | cifar10 (default auto)\n"                           \
    "  --epochs N         epochs\n"                                                        \
    "  --batch B          batch size (default 128)\n"                                      \
    "  --opt O            sgd | adam | rmsprop (default sgd)\n"                            \
    "  --lr X             learning rate\n"                                                 \
    "  --momentum X       SGD momentum (default 0.9)\n"                                    \
    "  --nesterov         SGD with Nesterov momentum\n"                                    \
    "  --weight-decay X   L2 weight decay (default 0)\n"                                   \
    "  --sched S          const | step | cosine\n"                                         \
    "  --step-every N     step schedule: decay every N epochs (default 10)\n"              \
    "  --gamma X          step schedule: decay factor (default 0.1)\n"                     \
    "  --seed S           seed of everything random in this run (default 1)\n"             \
    "  --split-seed S     seed of the validation/attacker/key-pool split (default 1)\n"    \
    "  --threads N        BLAS threads (default: OPENBLAS_NUM_THREADS or all cores)\n"     \
    "  --json             print one JSON object with the results\n"                        \
    "  --quiet            no progress output\n"                                            \
    "  --normalize N      new models: standard (per-channel mean/std, default) or unit\n"  \
    "                     (pixels/255 only, as the Keras examples train)\n"

typedef struct cli_train_opts {
    const char *data;
    ds_data_format format;
    long epochs, batch, step_every, threads;
    int opt_given, lr_given, sched_given, seed_given, nesterov, json, quiet;
    int unit_scale;           /* --normalize unit */
    ds_opt_kind opt;
    ds_sched_kind sched;
    double lr, momentum, wd, gamma;
    uint64_t seed, split_seed;
} cli_train_opts;

/* Defaults: the given epochs, lr and schedule; batch 128, SGD momentum 0.9, seeds 1. */
cli_train_opts cli_train_defaults(long epochs, double lr, ds_sched_kind sched);
/* Handle shared option code c with argument arg. Returns 1 if c was a shared
 * option (*st then holds the parse status), 0 otherwise. */
int cli_train_option(int c, const char *arg, cli_train_opts *t, ds_status *st, ds_err *err);
/* The training configuration the options describe (lr default per optimizer
 * when --lr was not given with another optimizer). */
ds_train_cfg cli_train_cfg(const cli_train_opts *t);

/* The input preprocessing of a new model trained on d under the options. */
ds_preproc cli_preproc(const cli_train_opts *t, const ds_dataset *d);

/* Print a JSON string literal (quoted, escaped) to f: always valid JSON; well-formed UTF-8
 * passes through, each byte of s outside well-formed UTF-8 is written as U+FFFD. */
void cli_json_string(FILE *f, const char *s);

#endif
