/* plan.c - expand an experiment spec into cells (see plan.h). */
#include "deepsigns/plan.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/blobstore.h"
#include "deepsigns/model.h"
#include "deepsigns/model_file.h"
#include "deepsigns/rng.h"

enum { STREAM_NULL_SEED = 0x4E554C4C };

const char *ds_cell_kind_name(ds_cell_kind k)
{
    switch (k) {
    case DS_CELL_TRAIN: return "train";
    case DS_CELL_EMBED: return "embed";
    case DS_CELL_ATTACK: return "attack";
    case DS_CELL_NULL: return "null";
    }
    return "?";
}

typedef struct builder {
    ds_plan *p;
    int cap;
    const ds_spec *spec;
    ds_err *err;
    int failed;
} builder;

/* The '|'-separated fields of canon except those that tell replicates and
 * strengths apart (replicate=, seed=, strength=), into out[cap]; returns the
 * length written. out is as long as canon, so it always fits. */
static int config_fields(char *out, size_t cap, const char *canon)
{
    static const char *const skip[] = {"replicate=", "seed=", "strength="};
    size_t n = 0;
    for (const char *f = canon; *f;) {
        const char *end = strchr(f, '|');
        size_t len = end ? (size_t)(end - f) : strlen(f);
        int keep = 1;
        for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
            if (!strncmp(f, skip[i], strlen(skip[i]))) keep = 0;
        if (keep && n + len + 2 <= cap) {
            memcpy(out + n, f, len);
            n += len;
            out[n++] = '|';
        }
        f += len + (end ? 1 : 0);
    }
    out[n] = '\0';
    return (int)n;
}

/* SHA-256 of text[0..len) into digest, and its first 64 bits as hex into
 * hex[DS_CELL_ID_HEX]. 0, or -1 (b->failed set). */
static int hash_id(builder *b, const char *text, int len, unsigned char digest[crypto_hash_sha256_BYTES],
                   char *hex)
{
    if (crypto_hash_sha256(digest, (const unsigned char *)text, (unsigned long long)len) != 0) {
        ds_err_set(b->err, DS_ELIB, "plan: SHA-256 failed");
        b->failed = 1;
        return -1;
    }
    sodium_bin2hex(hex, DS_CELL_ID_HEX, digest, (DS_CELL_ID_HEX - 1) / 2);
    return 0;
}

/* c->config from canon (c's canonical text, or one that sets its strength aside):
 * the fields without the replicate, the seeds and the strength, and the parents'
 * configurations. 0, or -1 (b->failed set). */
static int cell_config(builder *b, ds_cell *c, const char *canon)
{
    const ds_plan *p = b->p;
    char conf[DS_CELL_CANON_MAX + 64];
    int clen = snprintf(conf, sizeof conf, "config v1|parent=%s|key=%s|",
                        c->parent >= 0 ? p->cells[c->parent].config : "",
                        c->key_cell >= 0 ? p->cells[c->key_cell].config : "");
    clen += config_fields(conf + clen, sizeof conf - (size_t)clen, canon);
    unsigned char d[crypto_hash_sha256_BYTES];
    return hash_id(b, conf, clen, d, c->config);
}

/* Append a cell with canonical text canon (printf-style) and parents; computes
 * its identity and seed. Returns its index, or -1 (b->failed set). */
static int add_cell(builder *b, const ds_cell *proto, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int add_cell(builder *b, const ds_cell *proto, const char *fmt, ...)
{
    if (b->failed) return -1;
    ds_plan *p = b->p;
    if (p->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        ds_cell *c = realloc(p->cells, sizeof *c * (size_t)cap);
        if (!c) {
            ds_err_set(b->err, DS_ENOMEM, "plan: out of memory for %d cells", cap);
            b->failed = 1;
            return -1;
        }
        p->cells = c;
        b->cap = cap;
    }
    ds_cell *c = &p->cells[p->n];
    *c = *proto;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(c->canon, sizeof c->canon, fmt, ap);
    va_end(ap);
    /* parents' identities are part of the text that is hashed */
    char full[DS_CELL_CANON_MAX + 64];
    int flen = snprintf(full, sizeof full, "%s|parent=%s|key=%s", c->canon,
                        c->parent >= 0 ? p->cells[c->parent].id : "",
                        c->key_cell >= 0 ? p->cells[c->key_cell].id : "");
    if (len < 0 || len >= (int)sizeof c->canon || flen < 0 || flen >= (int)sizeof full) {
        ds_err_set(b->err, DS_ERANGE, "plan: a cell's configuration text is too long");
        b->failed = 1;
        return -1;
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    if (hash_id(b, full, flen, digest, c->id) || cell_config(b, c, c->canon)) return -1;
    uint64_t id64 = 0;
    for (int i = 0; i < 8; i++) id64 = id64 << 8 | digest[i];
    c->seed = ds_rng_mix(b->spec->seed, id64);
    return p->n++;
}

static int add_train(builder *b, uint64_t rep, uint64_t model_seed, int is_null)
{
    const ds_spec *s = b->spec;
    const ds_optim_cfg *o = &s->train.opt;
    /* the model: the architecture, or a model file by its content */
    char model[192];
    if (s->model_file[0])
        snprintf(model, sizeof model, "file=sha256:%s,%llu", s->model_hash, (unsigned long long)s->model_bytes);
    else
        snprintf(model, sizeof model, "arch=%s|hidden=%d|dropout=%.9g|depth=%d|widen=%d", s->arch.name,
                 s->hidden, s->dropout, s->depth, s->widen);
    ds_cell c;
    memset(&c, 0, sizeof c);
    c.kind = DS_CELL_TRAIN;
    c.parent = c.key_cell = -1;
    c.rep_seed = rep;
    c.model_seed = model_seed;
    c.is_null_model = is_null;
    c.strength = 0.0;
    return add_cell(b, &c,
                    "train v1|%s|data=%s|format=%d|limits=%zu,%zu|epochs=%d|"
                    "batch=%d|opt=%s|lr=%.9g|momentum=%.9g|nesterov=%d|wd=%.9g|sched=%s|"
                    "replicate=%llu|seed=%llu|null=%d",
                    model, s->data_dir_text, (int)s->data_format, s->train_limit,
                    s->test_limit, s->train.epochs, s->train.batch, ds_opt_kind_name(o->kind),
                    o->lr, o->momentum, o->nesterov, o->weight_decay, ds_sched_kind_name(o->sched),
                    (unsigned long long)rep, (unsigned long long)model_seed, is_null);
}

static int add_embed(builder *b, int parent, ds_wm_scheme scheme, int size)
{
    const ds_spec *s = b->spec;
    ds_cell c;
    memset(&c, 0, sizeof c);
    c.kind = DS_CELL_EMBED;
    c.parent = parent;
    c.key_cell = -1;
    c.rep_seed = b->p->cells[parent].rep_seed;
    c.scheme = scheme;
    c.size = size;
    c.strength = size;
    if (scheme == DS_WM_WHITEBOX)
        return add_cell(b, &c,
                        "embed v1|whitebox|bits=%d|targets=%d|lambda=%.9g|lambda1=%.9g|epochs=%d|"
                        "lr=%.9g|layer=%s|keys_per_class=%d",
                        size, s->wb.targets, s->wb.lambda, s->wb.lambda1, s->wb.epochs, s->wb.lr,
                        s->wb.layer, s->wb.keys_per_class);
    return add_cell(b, &c, "embed v1|blackbox|keys=%d|alpha=%.9g|epochs=%d|lr=%.9g", size,
                    s->bb.alpha, s->bb.epochs, s->bb.lr);
}

/* The configuration of one attack cell: the entry's knobs with one variant and
 * one strength applied, against a mark of `scheme`. */
static ds_attack_cfg attack_variant(const ds_spec_attack *a, int variant, double strength,
                                    ds_wm_scheme scheme)
{
    ds_attack_cfg c = a->cfg;
    c.layer = a->layer[0] ? a->layer : NULL;
    const ds_attack_info *info = ds_attack_info_of(c.kind);
    if (info) info->set(&c, variant, strength, scheme);
    return c;
}

/* The canonical text of an attack cell: its kind, variant, strength and knobs
 * (a chain also its steps; other kinds print what they did before chains). */
static void attack_canon(char *buf, size_t cap, const ds_attack_cfg *k, const char *variant, double strength)
{
    char chain[256] = "";
    if (k->kind == DS_ATTACK_CHAIN) {
        size_t n = (size_t)snprintf(chain, sizeof chain, "|steps=");
        for (int s = 0; s < k->nsteps && n < sizeof chain; s++)
            n += (size_t)snprintf(chain + n, sizeof chain - n, "%s%s", s ? "+" : "", ds_attack_kind_name(k->steps[s]));
        if (n < sizeof chain)
            snprintf(chain + n, sizeof chain - n, "|spread=%.9g|neurons=%d|dummy=%s", k->spread, k->neurons,
                     ds_dummy_kind_name(k->dummy));
    }
    snprintf(buf, cap,
             "attack v1|%s|variant=%s|strength=%.17g|bias=%d|bn=%d|epochs=%d|batch=%d|"
             "opt=%s|lr=%.9g|momentum=%.9g|fraction=%.9g|predicted=%d|targets=%d|"
             "layer=%s|entry_seed=%llu%s",
             ds_attack_kind_name(k->kind), variant, strength, k->prune_bias, k->prune_bn, k->epochs, k->batch,
             ds_opt_kind_name(k->opt.kind), k->opt.lr, k->opt.momentum, k->data_fraction,
             k->predicted_labels, k->targets, k->layer ? k->layer : "", (unsigned long long)k->seed, chain);
}

static void add_attacks(builder *b, const ds_spec_attack *a, int mark)
{
    /* a copy: adding cells may move the array */
    const ds_wm_scheme scheme = b->p->cells[mark].scheme;
    const uint64_t rep = b->p->cells[mark].rep_seed;
    if (!(a->schemes & (1u << scheme))) return;
    const double *str = a->strengths;
    int ns = a->nstrengths;
    if (a->cfg.kind == DS_ATTACK_OVERWRITE && scheme == DS_WM_WHITEBOX) {
        str = a->strengths_wb;
        ns = a->nstrengths_wb;
    }
    const int nv = a->nvariants ? a->nvariants : 1;
    for (int v = 0; v < nv; v++) {
        int variant = a->nvariants ? a->variants[v] : 0;
        for (int i = 0; i < ns; i++) {
            ds_cell c;
            memset(&c, 0, sizeof c);
            c.kind = DS_CELL_ATTACK;
            c.parent = c.key_cell = mark;
            c.rep_seed = rep;
            c.scheme = scheme;
            c.attack = attack_variant(a, variant, str[i], scheme);
            c.strength = str[i];
            snprintf(c.variant, sizeof c.variant, "%s",
                     ds_attack_variant_name(ds_attack_info_of(a->cfg.kind), variant));
            char canon[DS_CELL_CANON_MAX], canon0[DS_CELL_CANON_MAX];
            attack_canon(canon, sizeof canon, &c.attack, c.variant, c.strength);
            int at = add_cell(b, &c, "%s", canon);
            /* its config: the same entry with the strength set aside (finetune and chain
             * carry it in epochs as well) */
            ds_attack_cfg k0 = attack_variant(a, variant, 0.0, scheme);
            attack_canon(canon0, sizeof canon0, &k0, c.variant, 0.0);
            if (at >= 0) (void)cell_config(b, &b->p->cells[at], canon0);
        }
    }
}

ds_status ds_plan_make(const ds_spec *spec, ds_plan *out, ds_err *err)
{
    memset(out, 0, sizeof *out);
    if (sodium_init() < 0) return ds_err_set(err, DS_ELIB, "plan: libsodium failed to initialise");
    builder b = {.p = out, .spec = spec, .err = err};
    for (int r = 0; r < spec->nseeds && !b.failed; r++) {
        const uint64_t rep = spec->seeds[r];
        int base = add_train(&b, rep, rep, 0);
        int first = out->n; /* the embed cells of this replicate start here */
        int primary[3] = {-1, -1, -1};
        for (int i = 0; spec->wb.enabled && i < spec->wb.nbits; i++) {
            int e = add_embed(&b, base, DS_WM_WHITEBOX, spec->wb.bits[i]);
            if (i == 0) primary[DS_WM_WHITEBOX] = e;
        }
        for (int i = 0; spec->bb.enabled && i < spec->bb.nkeys; i++) {
            int e = add_embed(&b, base, DS_WM_BLACKBOX, spec->bb.keys[i]);
            if (i == 0) primary[DS_WM_BLACKBOX] = e;
        }
        const int last_embed = out->n;
        for (int a = 0; a < spec->nattacks; a++)
            for (int s = DS_WM_WHITEBOX; s <= DS_WM_BLACKBOX; s++)
                if (primary[s] >= 0) add_attacks(&b, &spec->attacks[a], primary[s]);
        for (int j = 0; j < spec->nulls && !b.failed; j++) {
            uint64_t ns = ds_rng_mix(ds_rng_mix(STREAM_NULL_SEED, rep), (uint64_t)j);
            int nm = add_train(&b, rep, ns, 1);
            for (int e = first; e < last_embed && nm >= 0; e++) {
                ds_cell c;
                memset(&c, 0, sizeof c);
                c.kind = DS_CELL_NULL;
                c.parent = nm;
                c.key_cell = e;
                c.rep_seed = rep;
                c.model_seed = ns;
                c.scheme = out->cells[e].scheme;
                c.strength = out->cells[e].size;
                add_cell(&b, &c, "null v1");
            }
        }
    }
    if (b.failed) {
        ds_plan_free(out);
        return err ? err->code : DS_EINVAL;
    }
    /* the plan's hash: experiment seed and every identity in order */
    crypto_hash_sha256_state h;
    unsigned char digest[crypto_hash_sha256_BYTES];
    char seed[32];
    int len = snprintf(seed, sizeof seed, "%llu", (unsigned long long)spec->seed);
    int bad = crypto_hash_sha256_init(&h) != 0 ||
              crypto_hash_sha256_update(&h, (const unsigned char *)seed, (unsigned long long)len) != 0;
    for (int i = 0; i < out->n && !bad; i++)
        bad = crypto_hash_sha256_update(&h, (const unsigned char *)out->cells[i].id,
                                        DS_CELL_ID_HEX - 1) != 0;
    if (bad || crypto_hash_sha256_final(&h, digest) != 0) {
        ds_plan_free(out);
        return ds_err_set(err, DS_ELIB, "plan: SHA-256 failed");
    }
    sodium_bin2hex(out->hash, sizeof out->hash, digest, sizeof digest);
    return DS_OK;
}

void ds_plan_free(ds_plan *p)
{
    if (!p) return;
    free(p->cells);
    memset(p, 0, sizeof *p);
}

int ds_plan_find(const ds_plan *p, const char *id)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->cells[i].id, id)) return i;
    return -1;
}

ds_status ds_spec_arch(const ds_spec *spec, const ds_dataset *train, ds_arch *arch, ds_err *err)
{
    ds_status st = ds_arch_defaults(spec->arch.name, train->c, train->h, train->w,
                                    train->num_classes, arch, err);
    if (st) return st;
    if (spec->hidden) arch->hidden = spec->hidden;
    if (spec->dropout >= 0.0f) arch->dropout = spec->dropout;
    if (spec->depth) arch->depth = spec->depth;
    if (spec->widen) arch->widen = spec->widen;
    return ds_arch_validate(arch, err);
}

ds_model *ds_spec_model(const ds_spec *spec, const ds_dataset *train, ds_err *err)
{
    if (!spec->model_file[0]) {
        ds_arch arch;
        if (ds_spec_arch(spec, train, &arch, err)) {
            ds_err_prefix(err, "%s: ", spec->path);
            return NULL;
        }
        return ds_model_build(&arch, err);
    }
    ds_blob_ref ref;
    if (ds_blob_ref_of_file(spec->model_file, &ref, err)) {
        ds_err_prefix(err, "%s: model.file: ", spec->path);
        return NULL;
    }
    if (strcmp(ref.hex, spec->model_hash) || ref.bytes != spec->model_bytes) {
        ds_err_set(err, DS_EINVAL, "%s: model.file: %s has changed since the spec was read (SHA-256 "
                   "%.16s..., %llu bytes; now %.16s..., %llu bytes)", spec->path, spec->model_file,
                   spec->model_hash, (unsigned long long)spec->model_bytes, ref.hex,
                   (unsigned long long)ref.bytes);
        return NULL;
    }
    ds_model *m = ds_model_load_any(spec->model_file, NULL, err);
    if (!m) {
        ds_err_prefix(err, "%s: model.file: ", spec->path);
        return NULL;
    }
    if (ds_model_check_data(m, train, err)) {
        ds_err_prefix(err, "%s: model.file: %s: ", spec->path, spec->model_file);
        ds_model_free(m);
        return NULL;
    }
    return m;
}

/* A layer the spec names (what, e.g. "watermarks.whitebox.layer") must be a hidden
 * layer of the model the spec builds. */
static ds_status check_layer(const ds_spec *spec, const ds_model *m, const char *name, const char *what,
                             ds_err *err)
{
    int node = ds_model_find_node(m, name);
    if (node > 0 && node < ds_model_output_node(m)) return DS_OK;
    return ds_err_set(err, DS_EINVAL, "%s: %s: '%s' is not a hidden layer of %s (see deepsigns info "
                      "on one of its models)", spec->path, what, name, m->arch.name);
}

/* Every layer named in spec, on the model it builds for train's shape. */
static ds_status check_layers(const ds_spec *spec, const ds_dataset *train, ds_err *err)
{
    int named = spec->wb.enabled && spec->wb.layer[0];
    for (int i = 0; i < spec->nattacks; i++) named |= spec->attacks[i].layer[0] != '\0';
    if (!named && !spec->model_file[0]) return DS_OK; /* a model file is read to be checked */
    ds_model *m = ds_spec_model(spec, train, err);
    if (!m) return err->code;
    ds_status st = DS_OK;
    if (spec->wb.enabled && spec->wb.layer[0])
        st = check_layer(spec, m, spec->wb.layer, "watermarks.whitebox.layer", err);
    for (int i = 0; !st && i < spec->nattacks; i++) {
        char what[64];
        snprintf(what, sizeof what, "attacks[%d].layer (line %d)", i, spec->attacks[i].line);
        if (spec->attacks[i].layer[0]) st = check_layer(spec, m, spec->attacks[i].layer, what, err);
    }
    ds_model_free(m);
    return st;
}

ds_status ds_plan_check_data(const ds_spec *spec, const ds_dataset *train, ds_err *err)
{
    const int classes = train->num_classes;
    if (spec->wb.enabled && spec->wb.targets > classes)
        return ds_err_set(err, DS_ERANGE,
                          "%s: watermarks.whitebox.targets: %d is more than the %d classes of %s",
                          spec->path, spec->wb.targets, classes, spec->data_dir);
    for (int i = 0; i < spec->nattacks; i++) {
        const ds_spec_attack *a = &spec->attacks[i];
        if (a->cfg.kind == DS_ATTACK_OVERWRITE && (a->schemes & (1u << DS_WM_WHITEBOX)) &&
            a->cfg.targets > classes)
            return ds_err_set(err, DS_ERANGE, "%s:%d: attacks[%d].targets: %d is more than the %d classes of %s",
                              spec->path, a->line, i, a->cfg.targets, classes, spec->data_dir);
    }
    for (int i = 0; spec->bb.enabled && i < spec->bb.nkeys; i++)
        if (ds_bb_keys_check(spec->bb.keys[i], classes, spec->bb.alpha, err))
            return ds_err_prefix(err, "%s: watermarks.blackbox.keys: ", spec->path);
    return check_layers(spec, train, err);
}
