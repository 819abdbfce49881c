/* Pipeline files (contracts §4). */
#ifndef NX_PIPELINE_H
#define NX_PIPELINE_H

#include <jansson.h>
#include "loader.h"
#include "util.h"

typedef struct nx_kv {
    char *key;
    char *value;
    int line;
} nx_kv;

typedef struct nx_step_inst {
    char *name;         /* the section name: the step instance */
    int line;           /* line of the section header */
    char *module;       /* as written after module = */
    int module_line;
    char *module_path;  /* resolved file */
    nx_kv *settings;
    size_t nsettings;
    nx_module *mod;     /* after nx_pipeline_load_modules */
} nx_step_inst;

typedef struct nx_pipeline {
    char *file;
    char *name;
    char *description;
    nx_step_inst *steps;
    size_t nsteps;
} nx_pipeline;

/* Parse the file: sections in order, [pipeline] keys, module = per step,
 * valid unique instance names. Errors: file:line and what is wrong. */
nx_pipeline *nx_pipeline_parse(const char *path, nx_err *e);
/* The same for a fragment inside a verified package, reached through a
 * private folder the host checked (core/pdir.h): the package's signature,
 * not the owner of the folders its path names, is what it is trusted by
 * (the site root, which such a path passes, may be another user's). */
nx_pipeline *nx_pipeline_parse_verified(const char *path, nx_err *e);
/* Resolve and load every step module, then check every setting against
 * the module's declared keys and required ones. Fail closed: on any
 * error no module stays loaded. */
int nx_pipeline_load_modules(nx_pipeline *p, const char *modules_dir, nx_err *e);
void nx_pipeline_free(nx_pipeline *p);

/* The setting or the module's declared default (NULL if neither). */
const char *nx_step_setting(const nx_step_inst *s, const char *key);

/* For the journal: the resolved pipeline as JSON, and back. The JSON form
 * carries everything a fresh process needs to load the same modules with
 * the same settings. */
json_t *nx_pipeline_to_json(const nx_pipeline *p);
nx_pipeline *nx_pipeline_from_json(const json_t *j, nx_err *e);

/* Where a pipeline name like "core" lives: PIPELINES/core.ini; a path
 * (containing '/') is taken as it is. */
char *nx_pipeline_path(const char *pipelines_dir, const char *name_or_path);

#endif
