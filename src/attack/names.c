/* names.c - the names of attack kinds, fine-tuning modes and dummy-neuron kinds
 * as they appear in configuration files, the CLI and reports. */
#include <stdio.h>
#include <string.h>

#include "deepsigns/attack.h"

typedef struct name_entry {
    int value;
    const char *name;
} name_entry;

static const name_entry attack_kinds[] = {
    {DS_ATTACK_PRUNE, "prune"},         {DS_ATTACK_FINETUNE, "finetune"},
    {DS_ATTACK_OVERWRITE, "overwrite"}, {DS_ATTACK_QUANTIZE, "quantize"},
    {DS_ATTACK_NOISE, "noise"},         {DS_ATTACK_PERMUTE, "permute"},
    {DS_ATTACK_DUMMY, "dummy"},
};

static const name_entry ft_modes[] = {
    {DS_FT_FTLL, "ftll"}, {DS_FT_FTAL, "ftal"}, {DS_FT_RTLL, "rtll"}, {DS_FT_RTAL, "rtal"},
};

static const name_entry dummy_kinds[] = {
    {DS_DUMMY_CLIQUE, "clique"}, {DS_DUMMY_SPLIT, "split"},
};

#define NENTRIES(a) (sizeof(a) / sizeof((a)[0]))

static const char *entry_name(const name_entry *t, size_t n, int v)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].value == v) return t[i].name;
    return "?";
}

/* Look s up in t[n]; on failure the message lists every accepted name. */
static ds_status entry_parse(const name_entry *t, size_t n, const char *what, const char *s,
                             int *out, ds_err *err)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, t[i].name)) {
            *out = t[i].value;
            return DS_OK;
        }
    char list[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof list; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        size_t room = sizeof list - len;
        int w = snprintf(list + len, room, "%s%s", sep, t[i].name);
        if (w < 0) break;
        len += (size_t)w < room ? (size_t)w : room;
    }
    return ds_err_set(err, DS_EINVAL, "unknown %s '%.64s' (expected %s)", what, s ? s : "(null)",
                      list);
}

const char *ds_attack_kind_name(ds_attack_kind k)
{
    return entry_name(attack_kinds, NENTRIES(attack_kinds), (int)k);
}

ds_status ds_attack_kind_parse(const char *s, ds_attack_kind *out, ds_err *err)
{
    int v = 0;
    ds_status st = entry_parse(attack_kinds, NENTRIES(attack_kinds), "attack", s, &v, err);
    if (!st) *out = (ds_attack_kind)v;
    return st;
}

const char *ds_ft_mode_name(ds_ft_mode m)
{
    return entry_name(ft_modes, NENTRIES(ft_modes), (int)m);
}

ds_status ds_ft_mode_parse(const char *s, ds_ft_mode *out, ds_err *err)
{
    int v = 0;
    ds_status st = entry_parse(ft_modes, NENTRIES(ft_modes), "fine-tuning mode", s, &v, err);
    if (!st) *out = (ds_ft_mode)v;
    return st;
}

const char *ds_dummy_kind_name(ds_dummy_kind k)
{
    return entry_name(dummy_kinds, NENTRIES(dummy_kinds), (int)k);
}

ds_status ds_dummy_kind_parse(const char *s, ds_dummy_kind *out, ds_err *err)
{
    int v = 0;
    ds_status st = entry_parse(dummy_kinds, NENTRIES(dummy_kinds), "dummy-neuron kind", s, &v, err);
    if (!st) *out = (ds_dummy_kind)v;
    return st;
}
