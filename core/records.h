/*
 * Entry points to the readers of documents that come from outside the
 * program — the update source's answers, the automatic-update record,
 * scheduled jobs — for the unit tests and the fuzz targets (fuzz/).
 * Each is the code the commands run, taking the document's bytes or path
 * instead of fetching or finding it.
 */
#ifndef NX_RECORDS_H
#define NX_RECORDS_H

#include <stddef.h>

#include "config.h"
#include "update_check.h"
#include "util.h"

/* core/check.c. A static index (index.json, already verified): format,
 * times and releases, each release added to the component of chk it
 * names (`only`: that component alone). 0, or -1 with e naming
 * chk->source. */
int nx_check_index_doc(nx_check *chk, const char *text, size_t len, const char *only, nx_err *e);
/* An API answer about component c (spec §3.3): its release, if any,
 * added to c. 0, or -1 with e naming url. */
int nx_check_api_doc(nx_component *c, const char *text, size_t len, const char *url, nx_err *e);

/* core/cli_auto.c. The record of automatic attempts at path (a missing
 * file is an empty record): -1 with e naming path when it is not one;
 * else 0 and *why: NULL when `version` of `component` may be attempted
 * automatically, or why not (malloc'ed). Journals are counted in cfg's
 * [paths] state. */
int nx_auto_record_check(const nx_config *cfg, const char *path, const char *component,
                         const char *version, char **why, nx_err *e);

/* core/cli_schedule.c. A scheduled job file: NULL with e naming path
 * when it is not a job; else the job (json_decref it), with its command
 * as `schedule run-due` would run it: *component ("core", "plugin:SLUG"
 * or "all"; malloc'ed), *to (NULL or the --to version, pointing into the
 * job) and *allow_major; *text the line `schedule list` shows for it
 * (malloc'ed). */
json_t *nx_sched_job_read(const char *path, char **component, const char **to,
                          int *allow_major, char **text, nx_err *e);

#endif
