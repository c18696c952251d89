/* kinds.h - private: the runners of the attacks that train (run.c), for the
 * table of attack kinds (kinds.c). Each applies c to *m and sets rep->realised
 * and rep->realised_what (and rep->used_samples). */
#ifndef DEEPSIGNS_ATTACK_KINDS_H
#define DEEPSIGNS_ATTACK_KINDS_H

#include "deepsigns/attack.h"

ds_status ds_attack_run_prune(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                              ds_attack_report *rep, ds_err *err);
ds_status ds_attack_run_finetune(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                                 ds_attack_report *rep, ds_err *err);
ds_status ds_attack_run_overwrite(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                                  ds_attack_report *rep, ds_err *err);

#endif
