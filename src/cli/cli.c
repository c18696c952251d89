/* cli.c - option parsing, error printing and data loading shared by subcommands. */
#include "cli/cli.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, const ds_err *err)
{
    fprintf(stderr, "deepsigns %s: error: %s\n", cmd, err->msg[0] ? err->msg : ds_status_name(err->code));
    return CLI_EXIT_ERROR;
}

int cli_failf(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "deepsigns %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_ERROR;
}

ds_status cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out, ds_err *err)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return ds_err_set(err, DS_EINVAL, "%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi)
        return ds_err_set(err, DS_ERANGE, "%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    *out = v;
    return DS_OK;
}

/* Decimal digits only: "010" is ten, never octal; "0x10", "+1", " 1" and "-1" are refused
 * (strtoull would take a base prefix, a sign or leading blanks). */
ds_status cli_parse_u64(const char *opt, const char *s, uint64_t *out, ds_err *err)
{
    if (!*s || strspn(s, "0123456789") != strlen(s))
        return ds_err_set(err, DS_EINVAL, "%s: '%s' is not a non-negative decimal integer "
                          "(digits 0-9 only, no sign or base prefix)", opt, s);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return ds_err_set(err, DS_ERANGE, "%s: '%s' is larger than %llu", opt, s,
                          (unsigned long long)UINT64_MAX);
    *out = v;
    return DS_OK;
}

ds_status cli_parse_real(const char *opt, const char *s, double lo, double hi, int lo_open, int hi_open,
                         double *out, ds_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return ds_err_set(err, DS_EINVAL, "%s: '%s' is not a number", opt, s);
    if (v < lo || v > hi || (lo_open && v == lo) || (hi_open && v == hi))
        return ds_err_set(err, DS_ERANGE, "%s: %g is out of range %c%g, %g%c", opt, v, lo_open ? '(' : '[',
                          lo, hi, hi_open ? ')' : ']');
    *out = v;
    return DS_OK;
}

ds_status cli_parse_int_in(const char *opt, const char *s, ds_setting id, long *out, ds_err *err)
{
    const ds_range *r = ds_range_of(id);
    if (!r || !r->integer) return ds_err_set(err, DS_EINVAL, "%s: no integer range %d", opt, (int)id);
    return cli_parse_int(opt, s, (long)r->lo, (long)r->hi, out, err);
}

ds_status cli_parse_real_in(const char *opt, const char *s, ds_setting id, double *out, ds_err *err)
{
    const ds_range *r = ds_range_of(id);
    if (!r || r->integer) return ds_err_set(err, DS_EINVAL, "%s: no real range %d", opt, (int)id);
    return cli_parse_real(opt, s, r->lo, r->hi, r->lo_open, r->hi_open, out, err);
}

ds_status cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out, ds_err *err)
{
    return cli_parse_real(opt, s, lo, hi, 0, 0, out, err);
}

void cli_set_threads(int threads)
{
    if (threads > 0) openblas_set_num_threads(threads);
}

ds_status cli_load_data(const char *dir, ds_data_format fmt, ds_dataset *train, ds_dataset *test,
                        ds_err *err)
{
    return ds_data_load_dir(dir ? dir : DS_DEFAULT_DATA_DIR, fmt, train, test, err);
}

/* The length (2-4) of the well-formed UTF-8 sequence of several bytes at s, or 0 when the
 * bytes there are not one (a stray continuation byte, an overlong form, a surrogate, a code
 * point above U+10FFFF or a truncated sequence). */
static int utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* Valid JSON for any byte string: well-formed UTF-8 passes through, '"', '\\' and control
 * characters are escaped, and each byte that is not part of a well-formed UTF-8 sequence
 * becomes one U+FFFD (written \ufffd). Such names are shown lossily: the replacement
 * characters mark where the undecodable bytes were, one per byte. */
void cli_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
            p++;
        } else if (c < 0x20 || c == 0x7F) {
            fprintf(f, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            fputc(c, f);
            p++;
        } else {
            int n = utf8_seq_len(p);
            if (n) {
                fwrite(p, 1, (size_t)n, f);
                p += n;
            } else {
                fputs("\\ufffd", f);
                p++;
            }
        }
    }
    fputc('"', f);
}

cli_train_opts cli_train_defaults(long epochs, double lr, ds_sched_kind sched)
{
    return (cli_train_opts){.epochs = epochs, .batch = 128, .step_every = 10, .lr = lr,
                            .momentum = 0.9, .gamma = 0.1, .sched = sched, .seed = 1,
                            .split_seed = 1};
}

int cli_train_option(int c, const char *arg, cli_train_opts *t, ds_status *st, ds_err *err)
{
    *st = DS_OK;
    switch (c) {
    case CLI_OPT_DATA: t->data = arg; break;
    case CLI_OPT_FORMAT: *st = ds_data_format_parse(arg, &t->format, err); break;
    case CLI_OPT_EPOCHS: *st = cli_parse_int_in("--epochs", arg, DS_RANGE_EPOCHS, &t->epochs, err); break;
    case CLI_OPT_BATCH: *st = cli_parse_int_in("--batch", arg, DS_RANGE_BATCH, &t->batch, err); break;
    case CLI_OPT_OPT: *st = ds_opt_kind_parse(arg, &t->opt, err); t->opt_given = 1; break;
    case CLI_OPT_LR: *st = cli_parse_real_in("--lr", arg, DS_RANGE_LR, &t->lr, err); t->lr_given = 1; break;
    case CLI_OPT_MOMENTUM: *st = cli_parse_real_in("--momentum", arg, DS_RANGE_MOMENTUM, &t->momentum, err); break;
    case CLI_OPT_NESTEROV: t->nesterov = 1; break;
    case CLI_OPT_WD: *st = cli_parse_real_in("--weight-decay", arg, DS_RANGE_WEIGHT_DECAY, &t->wd, err); break;
    case CLI_OPT_SCHED: *st = ds_sched_kind_parse(arg, &t->sched, err); t->sched_given = 1; break;
    case CLI_OPT_STEP_EVERY: *st = cli_parse_int_in("--step-every", arg, DS_RANGE_STEP_EVERY, &t->step_every, err); break;
    case CLI_OPT_GAMMA: *st = cli_parse_real_in("--gamma", arg, DS_RANGE_GAMMA, &t->gamma, err); break;
    case CLI_OPT_SEED: *st = cli_parse_u64("--seed", arg, &t->seed, err); t->seed_given = 1; break;
    case CLI_OPT_SPLIT_SEED: *st = cli_parse_u64("--split-seed", arg, &t->split_seed, err); break;
    case CLI_OPT_THREADS: *st = cli_parse_int("--threads", arg, 1, 1024, &t->threads, err); break;
    case CLI_OPT_JSON: t->json = 1; break;
    case CLI_OPT_QUIET: t->quiet = 1; break;
    case CLI_OPT_NORMALIZE:
        if (!strcmp(arg, "unit")) t->unit_scale = 1;
        else if (!strcmp(arg, "standard")) t->unit_scale = 0;
        else *st = ds_err_set(err, DS_EINVAL, "--normalize: expected standard or unit, got '%s'", arg);
        break;
    default: return 0;
    }
    return 1;
}

ds_train_cfg cli_train_cfg(const cli_train_opts *t)
{
    ds_train_cfg cfg = {.epochs = (int)t->epochs, .batch = (int)t->batch, .seed = t->seed,
                        .progress = !t->quiet};
    cfg.opt = ds_optim_defaults(t->opt);
    if (t->lr_given || t->opt == DS_OPT_SGD) cfg.opt.lr = (float)t->lr;
    cfg.opt.momentum = (float)t->momentum;
    cfg.opt.nesterov = t->nesterov;
    cfg.opt.weight_decay = (float)t->wd;
    cfg.opt.sched = t->sched;
    cfg.opt.step_every = (int)t->step_every;
    cfg.opt.gamma = (float)t->gamma;
    return cfg;
}

ds_preproc cli_preproc(const cli_train_opts *t, const ds_dataset *d)
{
    ds_preproc p = ds_preproc_default(d);
    if (t->unit_scale) {
        for (int c = 0; c < 3; c++) { p.mean[c] = 0.0f; p.std[c] = 1.0f; }
        return p;
    }
    return d->c == 3 ? p : ds_preproc_fit(d, NULL, 0);
}

ds_status cli_parse_commitment(const char *opt, const char *s, const char **out, ds_err *err)
{
    size_t n = strlen(s), hex = strspn(s, "0123456789abcdefABCDEF");
    if (n != 64 || hex != n) return ds_err_set(err, DS_EINVAL, "%s: expected 64 hex digits, got '%s'", opt, s);
    *out = s;
    return DS_OK;
}

ds_status cli_load_key(const char *cmd, const char *path, ds_wm_key *k, ds_err *err)
{
    int loose = 0;
    ds_status st = ds_key_load(path, k, &loose, err);
    if (!st && loose)
        fprintf(stderr, "deepsigns %s: warning: %s is readable or writable by others "
                        "(chmod 600 it: it holds your secrets)\n", cmd, path);
    return st;
}

ds_status cli_check_claim(ds_model *m, const char *model_path, int foreign, const ds_wm_key *k,
                          const char *key_path, const char *given, double alpha, ds_wm_check *out,
                          ds_claim_basis *basis, ds_err *err)
{
    /* first whether the key fits this model at all, then whether it may be used */
    ds_status st = ds_wm_check_run(m, k, alpha, out, err);
    if (!st) st = ds_key_check_commitment(foreign ? NULL : model_path, k, given, basis, err);
    return st ? ds_err_prefix(err, "%s with key %s: ", model_path, key_path) : DS_OK;
}

cli_verdict cli_claim_verdict(const ds_wm_check *c, ds_claim_basis basis)
{
    if (!c->owned) return CLI_VERDICT_NOT_SHOWN;
    return basis == DS_CLAIM_PUBLISHED ? CLI_VERDICT_OWNED : CLI_VERDICT_UNPUBLISHED;
}

void cli_alignment_json(const ds_wm_check *c, char *buf, size_t len)
{
    buf[0] = '\0';
    if (c->scheme != DS_WM_WHITEBOX) return;
    const ds_wb_result *r = &c->wb;
    const ds_wb_alignment *a = &r->align;
    char raw[32] = "null";
    if (r->raw_checkable) snprintf(raw, sizeof raw, "%.6f", r->raw_ber);
    if (!r->align_tried) {
        snprintf(buf, len, ", \"aligned\": false, \"ber_unaligned\": %s", raw);
        return;
    }
    snprintf(buf, len, ", \"aligned\": %s, \"ber_unaligned\": %s, \"alignment\": {\"trusted\": %s, "
             "\"units\": %d, \"suspect_units\": %d, \"matched\": %d, \"merged\": %d, \"dummies\": %d, "
             "\"missing\": %d, \"dead\": %d, \"identity\": %s, \"corr_mean\": %.6f, "
             "\"corr_min\": %.6f, \"seconds\": %.4f}", r->aligned ? "true" : "false", raw,
             a->trusted ? "true" : "false", a->units, a->suspect_units, a->matched,
             a->merged, a->dummies, a->missing, a->dead, a->identity ? "true" : "false", a->corr_mean,
             a->corr_min, a->seconds);
}

void cli_alignment_print(const ds_wm_check *c)
{
    const ds_wb_result *r = &c->wb;
    const ds_wb_alignment *a = &r->align;
    if (c->scheme != DS_WM_WHITEBOX || !r->align_tried) return;
    if (a->identity) {
        printf("alignment: every unit of the layer is where the key has it (%d units, correlation "
               "mean %.4f): nothing to undo\n", a->units, a->corr_mean);
        return;
    }
    printf("alignment: %d of %d reference units matched among %d suspect units (correlation mean "
           "%.4f, min %.4f); %d merged (split), %d left out (dummies), %d with no match, %d dead on "
           "the probes; %.3f s\n", a->matched, a->units, a->suspect_units, a->corr_mean, a->corr_min,
           a->merged, a->dummies, a->missing, a->dead, a->seconds);
    if (!a->trusted) {
        printf("alignment not trusted (it needs %.0f %% of the units matched at mean correlation "
               "%.2f): the bits below are read without it\n", 100.0 * DS_WB_ALIGN_MATCHED_MIN,
               DS_WB_ALIGN_CORR_MIN);
        return;
    }
    if (r->raw_checkable)
        printf("without alignment: %d of %d bits wrong, BER %.4f (reported; the claim rests on the "
               "aligned bits)\n", r->raw_errors, r->total, r->raw_ber);
    else
        printf("without alignment: not checkable (the layer's width differs from the key's)\n");
}

const char *cli_verdict_name(cli_verdict v)
{
    switch (v) {
    case CLI_VERDICT_OWNED: return "owned";
    case CLI_VERDICT_UNPUBLISHED: return "unpublished";
    default: return "not shown";
    }
}

const char *cli_basis_name(ds_claim_basis b)
{
    return b == DS_CLAIM_PUBLISHED ? "published (given)" : "stored in the model (unpublished)";
}

ds_status cli_parse_int_list(const char *opt, const char *s, long lo, long hi, int *out, int max, int *n,
                             ds_err *err)
{
    *n = 0;
    char buf[4096];
    if (strlen(s) >= sizeof buf) return ds_err_set(err, DS_EINVAL, "%s: list too long", opt);
    strcpy(buf, s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v = 0;
        ds_status st = cli_parse_int(opt, tok, lo, hi, &v, err);
        if (st) return st;
        if (*n == max) return ds_err_set(err, DS_ERANGE, "%s: more than %d values", opt, max);
        out[(*n)++] = (int)v;
    }
    if (*n == 0) return ds_err_set(err, DS_EINVAL, "%s: empty list", opt);
    return DS_OK;
}
