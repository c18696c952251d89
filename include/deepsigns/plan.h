/* plan.h - an experiment spec expanded into cells with dependencies.
 *
 * Cells, in an order where every cell comes after the cells it depends on:
 *   train   a base model for one replicate seed (or an unmarked null model)
 *   embed   a mark (one scheme, one secret size) on a base model; makes a key
 *   attack  one attack at one strength on a marked model, then the owner's check
 *   null    the owner's key of one embed cell checked on one null model
 * A cell's identity is the first 64 bits (hex) of SHA-256 over its canonical
 * configuration text and its parents' identities; its random seed is
 * ds_rng_mix(experiment seed, identity). Its configuration hash is the same
 * over the text without the replicate, the seeds and the strength (and over the
 * parents' configurations): cells of one setting share it across replicates, and
 * cells of different models or options never do. So a cell's numbers depend on what it
 * is, never on which rank runs it or when. The plan's hash covers every cell
 * identity and names a resumable results file.
 */
#ifndef DEEPSIGNS_PLAN_H
#define DEEPSIGNS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "deepsigns/attack.h"
#include "deepsigns/data.h"
#include "deepsigns/results.h"
#include "deepsigns/spec.h"
#include "deepsigns/status.h"
#include "deepsigns/wm.h"

typedef enum ds_cell_kind {
    DS_CELL_TRAIN = 1,
    DS_CELL_EMBED,
    DS_CELL_ATTACK,
    DS_CELL_NULL,
} ds_cell_kind;

enum { DS_CELL_CANON_MAX = 640 };

typedef struct ds_cell {
    ds_cell_kind kind;
    char id[DS_CELL_ID_HEX];
    char config[DS_CELL_ID_HEX]; /* the same hash without replicate, seeds and strength: cells
                                    with one config are replicates of one setting */
    int parent;               /* cell whose model it starts from; -1 for train */
    int key_cell;             /* embed cell whose key it checks; -1 if none */
    uint64_t rep_seed;        /* the replicate seed it belongs to */
    uint64_t model_seed;      /* train: the seed in its identity (null models: their own) */
    int is_null_model;        /* train cells of null models */
    ds_wm_scheme scheme;      /* embed, attack, null: the mark's scheme */
    int size;                 /* embed: N bits or K keys */
    ds_attack_cfg attack;     /* attack: the configuration (seed set at run time) */
    char variant[12];         /* attack: layer|global, ftal.., clique|split */
    double strength;          /* attack: the axis value; embed: size */
    uint64_t seed;            /* ds_rng_mix(experiment seed, identity) */
    char canon[DS_CELL_CANON_MAX]; /* canonical configuration text */
} ds_cell;

typedef struct ds_plan {
    int n;
    ds_cell *cells;
    char hash[DS_COMMIT_HEX]; /* SHA-256 over the experiment seed and every identity */
} ds_plan;

/* Expand spec into cells. */
ds_status ds_plan_make(const ds_spec *spec, ds_plan *out, ds_err *err);
void ds_plan_free(ds_plan *p);
/* Index of the cell with identity id, or -1. */
int ds_plan_find(const ds_plan *p, const char *id);
const char *ds_cell_kind_name(ds_cell_kind k); /* "train", "embed", "attack", "null" */

/* The architecture the spec asks for, on data shaped like train (channels,
 * size, classes), with the spec's hidden/dropout/depth/widen applied. */
ds_status ds_spec_arch(const ds_spec *spec, const ds_dataset *train, ds_arch *arch, ds_err *err);

/* The spec's base model for data shaped like train: the architecture built
 * (parameters zeroed; ds_model_init_params), or the model file read (ours,
 * ONNX or Keras, by content) after checking that its content is still the one
 * the spec was read with, and that the data fit its input and outputs. NULL on
 * failure, with a message naming the spec and the file. */
ds_model *ds_spec_model(const ds_spec *spec, const ds_dataset *train, ds_err *err);

/* What the spec asks of the data, once it is loaded: white-box target classes
 * (the marks' and the overwriting attacks') at most the classes, black-box K
 * large enough to ever show ownership, and every layer it names a hidden layer
 * of the model it builds. The message names the spec file and the key. */
ds_status ds_plan_check_data(const ds_spec *spec, const ds_dataset *train, ds_err *err);

#endif
