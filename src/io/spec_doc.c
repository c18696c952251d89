/* spec_doc.c - the YAML document of a spec (spec_doc.h): libfyaml's parser loads
 * one document (its diagnostics collected, not printed), then one walk in
 * document order refuses tags, aliases that name no complete anchor before them
 * and nesting deeper than SPEC_MAX_DEPTH, and the parser's next event must end
 * the stream. Node positions are libfyaml's marks: a scalar's token
 * (fy_node_get_scalar_token), a collection's start token (the first event a
 * document iterator makes of the node).
 */
#include "io/spec_doc.h"

#include <libfyaml.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

ds_status spec_failf(const spec_ctx *c, ds_status code, int line, const char *path, const char *fmt, ...)
{
    char what[DS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (path && *path) return ds_err_set(c->err, code, "%s:%d: %s: %s", c->file, line, path, what);
    return ds_err_set(c->err, code, "%s:%d: %s", c->file, line, what);
}

ds_status spec_nomem(const spec_ctx *c)
{
    return ds_err_set(c->err, DS_ENOMEM, "%s: out of memory while reading the spec", c->file);
}

/* ================================================================ positions */

/* Where node n starts: 1 with *m set, or 0 when libfyaml knows no position. */
static int node_mark(struct fy_node *n, struct fy_mark *m)
{
    const struct fy_mark *p = NULL;
    if (fy_node_is_scalar(n)) {
        struct fy_token *t = fy_node_get_scalar_token(n);
        p = t ? fy_token_start_mark(t) : NULL;
        if (p) *m = *p;
        return p != NULL;
    }
    struct fy_document_iterator *it = fy_document_iterator_create();
    if (!it) return 0;
    fy_document_iterator_node_start(it, n);
    struct fy_event *ev = fy_document_iterator_body_next(it);
    if (ev) {
        p = fy_event_start_mark(ev);
        if (p) *m = *p;
        fy_document_iterator_event_free(it, ev);
    }
    fy_document_iterator_destroy(it);
    return p != NULL;
}

static int node_line(struct fy_node *n, int fallback)
{
    struct fy_mark m;
    return node_mark(n, &m) ? m.line + 1 : fallback;
}

/* The node an alias stands for: the last node anchored with its name that ends
 * before it (starts before it and does not hold it); NULL if none. */
static struct fy_node *alias_target(struct fy_document *doc, struct fy_node *alias)
{
    size_t len = 0;
    const char *name = fy_node_get_scalar(alias, &len);
    struct fy_mark at, m;
    if (!name || !node_mark(alias, &at)) return NULL;
    struct fy_node *best = NULL;
    size_t best_pos = 0;
    void *iter = NULL;
    struct fy_anchor *a;
    while ((a = fy_document_anchor_iterate(doc, &iter))) {
        size_t alen = 0;
        const char *aname = fy_anchor_get_text(a, &alen);
        struct fy_node *n = fy_anchor_node(a);
        if (!aname || !n || alen != len || memcmp(aname, name, len)) continue;
        if (!node_mark(n, &m)) m.input_pos = 0; /* an empty value: taken as before */
        if (m.input_pos >= at.input_pos) continue;
        int holds = 0;
        for (struct fy_node *p = fy_node_get_parent(alias); p && !holds; p = fy_node_get_parent(p))
            holds = p == n;
        if (!holds && (!best || m.input_pos > best_pos)) {
            best = n;
            best_pos = m.input_pos;
        }
    }
    return best;
}

/* ================================================================ loading */

static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag, (void)user, (void)buf, (void)len;
}

/* The first error libfyaml collected, as a syntax error message (its own depth
 * limit, above ours, as ours). */
static ds_status syntax_error(const spec_ctx *c, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(diag, &it)))
        if (e->type >= FYET_ERROR) {
            int line = e->line > 0 ? e->line : 1;
            if (e->msg && !strncmp(e->msg, "Max depth", 9))
                return spec_failf(c, DS_EFORMAT, line, NULL, "nested more than %d levels deep", SPEC_MAX_DEPTH);
            return spec_failf(c, DS_EFORMAT, line, NULL, "YAML syntax error: %s", e->msg ? e->msg : "(no detail)");
        }
    return spec_failf(c, DS_EFORMAT, 1, NULL, "YAML syntax error");
}

static ds_status refuse_tag(const spec_ctx *c, struct fy_node *n)
{
    struct fy_token *tag = fy_node_get_tag_token(n);
    if (!tag) return DS_OK;
    size_t len = 0;
    const char *s = fy_token_get_text(tag, &len);
    const struct fy_mark *m = fy_token_start_mark(tag); /* the line of an empty value */
    return spec_failf(c, DS_EFORMAT, node_line(n, m ? m->line + 1 : 1), NULL,
                      "YAML tag '%.*s' is not supported (write plain values)",
                      s ? (int)(len > 40 ? 40 : len) : 0, s ? s : "");
}

/* Tags, aliases and depth, in document order; depth: collections around n. */
static ds_status check_node(const spec_ctx *c, struct fy_document *doc, struct fy_node *n, int depth)
{
    ds_status st = refuse_tag(c, n);
    if (st || !n) return st;
    if (fy_node_is_alias(n)) {
        if (alias_target(doc, n)) return DS_OK;
        size_t len = 0;
        const char *s = fy_node_get_scalar(n, &len);
        return spec_failf(c, DS_EFORMAT, node_line(n, 1), NULL, "alias *%.*s names no complete anchor before it",
                          s ? (int)(len > 40 ? 40 : len) : 0, s ? s : "");
    }
    if (fy_node_is_scalar(n)) return DS_OK;
    if (depth == SPEC_MAX_DEPTH)
        return spec_failf(c, DS_EFORMAT, node_line(n, 1), NULL, "nested more than %d levels deep", SPEC_MAX_DEPTH);
    void *it = NULL;
    if (fy_node_is_mapping(n)) {
        struct fy_node_pair *p;
        while (!st && (p = fy_node_mapping_iterate(n, &it)))
            if (!(st = check_node(c, doc, fy_node_pair_key(p), depth + 1)))
                st = check_node(c, doc, fy_node_pair_value(p), depth + 1);
        return st;
    }
    struct fy_node *item;
    while (!st && (item = fy_node_sequence_iterate(n, &it))) st = check_node(c, doc, item, depth + 1);
    return st;
}

/* After the document: the end of the stream, not a second document. */
static ds_status check_stream_end(const spec_ctx *c, spec_doc *d)
{
    struct fy_event *ev = fy_parser_parse(d->parser);
    if (!ev) return fy_parser_get_stream_error(d->parser) ? syntax_error(c, d->diag) : DS_OK;
    ds_status st = DS_OK;
    if (ev->type == FYET_DOCUMENT_START) {
        const struct fy_mark *m = fy_event_start_mark(ev);
        struct fy_event *next = m ? NULL : fy_parser_parse(d->parser); /* implicit start: its first node */
        const struct fy_mark *mn = next ? fy_event_start_mark(next) : NULL;
        st = spec_failf(c, DS_EFORMAT, m ? m->line + 1 : mn ? mn->line + 1 : 1, NULL,
                        "a second YAML document (a spec is exactly one document)");
        if (next) fy_parser_event_free(d->parser, next);
    }
    fy_parser_event_free(d->parser, ev);
    return st;
}

static ds_status doc_open(const spec_ctx *c, const char *text, size_t len, spec_doc *d)
{
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_discard;
    dcfg.colorize = false;
    d->diag = fy_diag_create(&dcfg);
    if (!d->diag) return ds_err_set(c->err, DS_ELIB, "%s: libfyaml: cannot create a diagnostic object", c->file);
    fy_diag_set_collect_errors(d->diag, true);
    /* duplicate keys are ours to report, with both lines */
    struct fy_parse_cfg pcfg = {.search_path = NULL,
                                .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_ALLOW_DUPLICATE_KEYS,
                                .userdata = NULL,
                                .diag = d->diag};
    d->parser = fy_parser_create(&pcfg);
    if (!d->parser) return ds_err_set(c->err, DS_ELIB, "%s: libfyaml: cannot create a parser", c->file);
    if (fy_parser_set_string(d->parser, text, len) != 0)
        return ds_err_set(c->err, DS_ELIB, "%s: libfyaml: cannot set the input", c->file);
    d->doc = fy_parse_load_document(d->parser);
    if (fy_parser_get_stream_error(d->parser)) return syntax_error(c, d->diag);
    return DS_OK;
}

ds_status spec_doc_load(const spec_ctx *c, const char *text, size_t len, spec_doc *d, int *empty_line)
{
    memset(d, 0, sizeof *d);
    *empty_line = 0;
    ds_status st = doc_open(c, text, len, d);
    struct fy_node *root = d->doc ? fy_document_root(d->doc) : NULL;
    if (!st && root) st = check_node(c, d->doc, root, 0);
    if (!st) st = check_stream_end(c, d);
    if (!st && !root) *empty_line = 1;
    if (st || *empty_line) spec_doc_free(d);
    return st;
}

void spec_doc_free(spec_doc *d)
{
    if (!d) return;
    if (d->doc) fy_parse_document_destroy(d->parser, d->doc);
    if (d->parser) fy_parser_destroy(d->parser);
    if (d->diag) fy_diag_destroy(d->diag);
    memset(d, 0, sizeof *d);
}

/* ================================================================ views */

static int is_null_word(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

ds_status spec_view(const spec_ctx *c, const spec_doc *d, struct fy_node *n, int fallback_line, ynode *out)
{
    memset(out, 0, sizeof *out);
    if (!n) { /* an empty key */
        *out = (ynode){.type = Y_SCALAR, .line = fallback_line, .plain = 1, .null = 1, .text = ""};
        return DS_OK;
    }
    if (fy_node_is_alias(n)) n = alias_target(d->doc, n); /* found by spec_doc_load */
    if (!n) return ds_err_set(c->err, DS_ELIB, "%s: libfyaml: an alias without its anchor", c->file);
    out->node = n;
    out->line = node_line(n, fallback_line);
    if (fy_node_is_mapping(n)) {
        out->type = Y_MAP;
        out->n = fy_node_mapping_item_count(n);
    } else if (fy_node_is_sequence(n)) {
        out->type = Y_SEQ;
        out->n = fy_node_sequence_item_count(n);
    } else {
        out->type = Y_SCALAR;
        struct fy_token *t = fy_node_get_scalar_token(n);
        out->plain = !t || fy_node_get_style(n) == FYNS_PLAIN;
        size_t len = 0;
        const char *s = t ? fy_node_get_scalar(n, &len) : NULL;
        const char *s0 = s ? fy_node_get_scalar0(n) : "";
        if (!s0) return spec_nomem(c);
        out->text = s0;
        out->len = s ? len : 0;
        out->null = out->plain && is_null_word(out->text);
    }
    return out->n < 0 ? ds_err_set(c->err, DS_ELIB, "%s: libfyaml: a collection without a size", c->file) : DS_OK;
}

ds_status spec_root(const spec_ctx *c, const spec_doc *d, ynode *root)
{
    /* an empty root has no position: the line of the document's start */
    const struct fy_mark *m = fy_document_state_start_mark(fy_document_get_document_state(d->doc));
    return spec_view(c, d, fy_document_root(d->doc), m ? m->line + 1 : 1, root);
}

ds_status spec_pair(const spec_ctx *c, const spec_doc *d, const ynode *map, int i, ynode *key, ynode *value)
{
    struct fy_node_pair *p = fy_node_mapping_get_by_index(map->node, i);
    if (!p) return ds_err_set(c->err, DS_ELIB, "%s: libfyaml: no pair %d in a mapping of %d", c->file, i, map->n);
    struct fy_node *k = fy_node_pair_key(p);
    /* an empty key has no position: the line of its value */
    int kline = k ? node_line(k, 0) : 0;
    ds_status st = spec_view(c, d, k, kline ? kline : node_line(fy_node_pair_value(p), map->line), key);
    return st || !value ? st : spec_view(c, d, fy_node_pair_value(p), key->line, value);
}

ds_status spec_item(const spec_ctx *c, const spec_doc *d, const ynode *seq, int i, ynode *item)
{
    struct fy_node *n = fy_node_sequence_get_by_index(seq->node, i);
    if (!n) return ds_err_set(c->err, DS_ELIB, "%s: libfyaml: no item %d in a list of %d", c->file, i, seq->n);
    return spec_view(c, d, n, seq->line, item);
}
