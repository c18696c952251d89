/* spec_set.c - `--set KEY.PATH=VALUE` overrides of an experiment spec: applied
 * to the spec's YAML document (libfyaml's document API, loaded as the spec reader
 * loads it: spec_doc.c), which is emitted again
 * and then read by the spec reader like any spec, so an override is checked
 * exactly as the key in the file would be, and the text that ran (recorded in
 * the results file) says what was overridden. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "deepsigns/spec.h"
#include "io/spec_doc.h"

enum { SET_PATH_MAX = 256 };

/* Check "a.b.0.c=VALUE": path parts of letters, digits and '_', a value after '='. */
static ds_status split_set(const char *set, char *path, size_t cap, const char **value, ds_err *err)
{
    const char *eq = strchr(set, '=');
    if (!eq || eq == set)
        return ds_err_set(err, DS_EINVAL, "--set %s: expected KEY.PATH=VALUE (e.g. train.epochs=1)", set);
    size_t n = (size_t)(eq - set);
    if (n >= cap) return ds_err_set(err, DS_ERANGE, "--set %s: the key path is too long", set);
    memcpy(path, set, n);
    path[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)path[i];
        int dot_ok = ch == '.' && i > 0 && i + 1 < n && path[i + 1] != '.';
        if (!(isalnum(ch) || ch == '_' || dot_ok))
            return ds_err_set(err, DS_EINVAL, "--set %s: '%s' is not a key path (keys of letters, digits "
                              "and _, joined by '.'; list items by index)", set, path);
    }
    *value = eq + 1;
    return DS_OK;
}

/* Put value at path in the document's root mapping: missing mappings on the way
 * are created; an index selects an existing list item. */
static ds_status apply_one(struct fy_document *doc, const char *set, ds_err *err)
{
    char path[SET_PATH_MAX];
    const char *value = NULL;
    ds_status st = split_set(set, path, sizeof path, &value, err);
    if (st) return st;
    struct fy_node *node = fy_document_root(doc);
    if (!node || !fy_node_is_mapping(node))
        return ds_err_set(err, DS_EINVAL, "--set %s: the spec is not a mapping", set);
    struct fy_node *val = fy_node_build_from_string(doc, value[0] ? value : "''", FY_NT);
    if (!val) return ds_err_set(err, DS_EINVAL, "--set %s: the value is not YAML", set);
    for (char *part = path, *next; part; part = next) {
        next = strchr(part, '.');
        if (next) *next++ = '\0';
        if (fy_node_is_sequence(node)) {
            char *end;
            long i = strtol(part, &end, 10);
            struct fy_node *item = *end || i < 0 || i >= fy_node_sequence_item_count(node)
                                       ? NULL : fy_node_sequence_get_by_index(node, (int)i);
            if (!item) {
                fy_node_free(val);
                return ds_err_set(err, DS_EINVAL, "--set %s: '%s' is not an index of that list (%d items)",
                                  set, part, fy_node_sequence_item_count(node));
            }
            if (next) {
                node = item;
                continue;
            }
            if (fy_node_sequence_insert_before(node, item, val)) {
                fy_node_free(val);
                return ds_err_set(err, DS_ELIB, "--set %s: cannot replace the list item", set);
            }
            if (!fy_node_sequence_remove(node, item)) /* val is the document's now */
                return ds_err_set(err, DS_ELIB, "--set %s: cannot replace the list item", set);
            fy_node_free(item);
            return DS_OK;
        }
        if (!fy_node_is_mapping(node)) {
            fy_node_free(val);
            return ds_err_set(err, DS_EINVAL, "--set %s: '%s' is below a value that is not a mapping", set,
                              part);
        }
        struct fy_node_pair *pair = fy_node_mapping_lookup_pair_by_string(node, part, FY_NT);
        struct fy_node *key = pair ? NULL : fy_node_create_scalar_copy(doc, part, FY_NT);
        if (!pair && !key) {
            fy_node_free(val);
            return ds_err_set(err, DS_ENOMEM, "--set %s: out of memory", set);
        }
        if (!next) {
            int bad = pair ? fy_node_pair_set_value(pair, val) : fy_node_mapping_append(node, key, val);
            if (bad) {
                fy_node_free(val);
                return ds_err_set(err, DS_ELIB, "--set %s: cannot set the value", set);
            }
            return DS_OK;
        }
        struct fy_node *child = pair ? fy_node_pair_value(pair) : NULL;
        if (child && fy_node_is_scalar(child) && fy_node_is_null(child)) { /* `train:` with nothing */
            struct fy_node *map = fy_node_create_mapping(doc);
            if (!map || fy_node_pair_set_value(pair, map)) {
                fy_node_free(val);
                return ds_err_set(err, DS_ELIB, "--set %s: cannot add the key '%s'", set, part);
            }
            child = map;
        }
        if (!child) { /* a mapping on the way */
            child = fy_node_create_mapping(doc);
            if (!child || fy_node_mapping_append(node, key, child)) {
                fy_node_free(val);
                return ds_err_set(err, DS_ELIB, "--set %s: cannot add the key '%s'", set, part);
            }
        }
        node = child;
    }
    fy_node_free(val);
    return DS_OK;
}

/* The spec text with the overrides applied, as a malloc'd string: a comment line
 * naming them, then the emitted document. */
static ds_status override_text(const char *text, const char *name, const char *const *sets, int nsets,
                               char **out, ds_err *err)
{
    /* the document the spec reader read (spec_doc.c): the text is a sound spec */
    spec_ctx c = {name, err};
    spec_doc d;
    int empty = 0;
    ds_status st = spec_doc_load(&c, text, strlen(text), &d, &empty);
    if (!st && empty) return ds_err_set(err, DS_EINVAL, "%s: an empty document for --set", name);
    if (st) return st;
    for (int i = 0; i < nsets && !st; i++) st = apply_one(d.doc, sets[i], err);
    char *body = st ? NULL : fy_emit_document_to_string(d.doc, FYECF_MODE_BLOCK | FYECF_INDENT_2);
    if (!st && !body) st = ds_err_set(err, DS_ELIB, "%s: cannot write the spec with --set", name);
    spec_doc_free(&d);
    if (st) return st;
    size_t len = strlen("# deepsigns: --set applied to \n") + strlen(name) + strlen(body) + 1;
    for (int i = 0; i < nsets; i++) len += strlen("# --set \n") + strlen(sets[i]);
    char *s = malloc(len);
    if (!s) {
        free(body);
        return ds_err_set(err, DS_ENOMEM, "%s: out of memory", name);
    }
    size_t n = (size_t)snprintf(s, len, "# deepsigns: --set applied to %s\n", name);
    for (int i = 0; i < nsets; i++) { /* one comment line each, whatever the value holds */
        n += (size_t)snprintf(s + n, len - n, "# --set ");
        for (const char *q = sets[i]; *q && n + 1 < len; q++) s[n++] = *q == '\n' || *q == '\r' ? ' ' : *q;
        n += (size_t)snprintf(s + n, len - n, "\n");
    }
    snprintf(s + n, len - n, "%s", body);
    free(body);
    *out = s;
    return DS_OK;
}

ds_status ds_spec_load_set(const char *path, const char *const *sets, int nsets, ds_spec *out, ds_err *err)
{
    ds_status st = ds_spec_load(path, out, err);
    if (st || nsets <= 0) return st;
    /* the file itself is a sound spec (its errors name its own lines); then the overrides */
    char *text = NULL;
    st = override_text(out->text, path, sets, nsets, &text, err);
    ds_spec_free(out);
    if (st) return st;
    st = ds_spec_parse(text, strlen(text), path, out, err);
    free(text);
    if (st) (void)ds_err_prefix(err, "with --set: ");
    return st;
}
