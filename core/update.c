/* Command-level driving of an update: lock, journal, work folder. */
#include "engine.h"
#include "buildconf.h"
#include "lock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static char *new_update_id(void)
{
    unsigned char rnd[4] = { 0 };
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        long long t = nx_now_ms();
        memcpy(rnd, &t, sizeof rnd);
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    return nx_xasprintf("%s-%02x%02x%02x%02x", ts, rnd[0], rnd[1], rnd[2], rnd[3]);
}

static json_t *make_info(const struct nx_update_req *req, const char *id, const char *work,
                         const char *pipeline_name)
{
    json_t *info = json_pack("{s:s, s:s, s:s}", "update_id", id, "component",
                             req->component ? req->component : "custom", "pipeline",
                             pipeline_name);
    if (work && *work)
        json_object_set_new(info, "work_dir", json_string(work));
    if (req->from)
        json_object_set_new(info, "from_version", json_string(req->from));
    if (req->to)
        json_object_set_new(info, "to_version", json_string(req->to));
    if (req->success_outcome)
        json_object_set_new(info, "success_outcome", json_string(req->success_outcome));
    const char *k;
    json_t *v;
    if (req->params) {
        json_object_foreach(req->params, k, v) {
            char *key = nx_xasprintf("param.%s", k);
            json_object_set(info, key, v);
            free(key);
        }
    }
    return info;
}

static int dry_run(const nx_out *out, const nx_config *cfg, const struct nx_update_req *req,
                   nx_pipeline *pl)
{
    nx_err e;
    json_t *info = make_info(req, "dry-run", "", pl->name);
    nx_run r;
    nx_run_init(&r, out, cfg, pl, NULL, info);
    r.dry_run = 1;
    json_decref(info);
    int code = NX_EXIT_OK;
    nx_log(out, NEXO_LOG_INFO, NULL, "dry run of pipeline '%s' (%s): nothing will change",
           pl->name, pl->file);
    if (nx_engine_validate(&r, &e) != 0 || nx_engine_plan(&r, &e) != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        code = NX_EXIT_FAILED;
    }
    nx_run_free(&r);
    return code;
}

static void outcome_line(const nx_out *out, const char *id, const struct nx_update_req *req,
                         int code, long long ms, long long maint_ms)
{
    char vers[256] = "";
    if (req->from || req->to)
        snprintf(vers, sizeof vers,
                 !req->from ? " %.0snew install of %s" : " %s -> %s",
                 req->from ? req->from : "", req->to ? req->to : "(not installed)");
    const char *what = code == NX_EXIT_OK ? "succeeded"
                       : code == NX_EXIT_FAILED ? "failed before anything was changed"
                       : code == NX_EXIT_ROLLED_BACK ? "failed and was rolled back completely"
                       : "failed and the rollback did not complete: run 'nexo-update recover'";
    char maint[96] = "";
    if (maint_ms > 0)
        snprintf(maint, sizeof maint, "; the site was in maintenance mode for %.*f s",
                 maint_ms < 10000 ? 2 : 1, (double)maint_ms / 1000.0);
    nx_log(out, code == NX_EXIT_OK ? NEXO_LOG_INFO : NEXO_LOG_ERROR, NULL,
           "update %s (%s%s) %s in %.*f s%s", id, req->component ? req->component : "custom",
           vers, what, ms < 10000 ? 2 : 1, (double)ms / 1000.0, maint);
}

static int begin_journal(nx_run *r, const nx_config *cfg, nx_pipeline *pl, const char *id,
                         nx_err *e)
{
    json_t *begin = json_pack("{s:s, s:O, s:o, s:o, s:i, s:s}", "id", id, "info", r->info,
                              "pipeline", nx_pipeline_to_json(pl), "config",
                              nx_config_snapshot(cfg), "pid", (int)getpid(), "host_version",
                              NX_VERSION);
    if (!begin) {
        nx_seterr(e, "cannot build the journal's begin record (non-UTF-8 setting?)");
        return -1;
    }
    r->j = nx_journal_create(nx_config_get(cfg, "paths", "state"), begin, e);
    return r->j ? 0 : -1;
}

static int run_locked(const nx_out *out, const nx_config *cfg, const struct nx_update_req *req,
                      nx_faults *faults, nx_pipeline *pl, int lockfd)
{
    nx_err e;
    const char *state = nx_config_get(cfg, "paths", "state");
    char *cur = nx_journal_current(state);
    if (access(cur, F_OK) == 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL,
               "an interrupted update is waiting in %s: run 'nexo-update recover' first", cur);
        free(cur);
        return NX_EXIT_FAILED;
    }
    free(cur);
    char *id = new_update_id();
    char *work = nx_xasprintf("%s/work/%s", state, id);
    nx_lock_note(lockfd, id);
    json_t *info = make_info(req, id, work, pl->name);
    nx_run r;
    nx_run_init(&r, out, cfg, pl, faults, info);
    json_decref(info);
    int code = NX_EXIT_FAILED;
    int dblock = nx_run_db_lock(&r, &e);
    if (dblock != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        code = dblock == 1 ? NX_EXIT_LOCKED : NX_EXIT_FAILED;
        goto out;
    }
    if (nx_engine_validate(&r, &e) != 0 || nx_mkdirs(work, 0700, &e) != 0 ||
        begin_journal(&r, cfg, pl, id, &e) != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        nx_rmtree(work, &e);
        goto out;
    }
    nx_log(out, NEXO_LOG_INFO, NULL, "update %s: pipeline '%s', %zu steps", id, pl->name,
           pl->nsteps);
    long long t0 = nx_now_ms() / 1000;
    code = nx_engine_execute(&r);
    if (r.outcome)
        nx_run_record_history(&r, r.outcome, r.error[0] ? r.error : NULL, t0);
    if (code != NX_EXIT_ROLLBACK_FAILED && nx_rmtree(work, &e) != 0)
        nx_log(out, NEXO_LOG_WARN, NULL, "%s", e.msg);
    outcome_line(out, id, req, code, nx_mono_ms() - r.started_ms, nx_run_maintenance_ms(&r));
out:
    nx_journal_close(r.j);
    r.j = NULL;
    nx_run_free(&r);
    free(work);
    free(id);
    return code;
}

int nx_update_run(const nx_out *out, const nx_config *cfg, const struct nx_update_req *req,
                  nx_faults *faults)
{
    nx_err e;
    nx_pipeline *pl = nx_pipeline_parse(req->pipeline, &e);
    if (!pl || nx_pipeline_load_modules(pl, nx_config_get(cfg, "paths", "modules"), &e) != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        nx_log(out, NEXO_LOG_ERROR, NULL, "nothing was run: every module of a pipeline must "
                                          "load before any step runs");
        nx_pipeline_free(pl);
        return NX_EXIT_FAILED;
    }
    if (req->dry_run) {
        int code = dry_run(out, cfg, req, pl);
        nx_pipeline_free(pl);
        return code;
    }
    int fd = -1;
    int lk = nx_lock_acquire(nx_config_get(cfg, "paths", "state"), NULL, &fd, &e);
    if (lk != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        nx_pipeline_free(pl);
        return lk == 1 ? NX_EXIT_LOCKED : NX_EXIT_FAILED;
    }
    int code = run_locked(out, cfg, req, faults, pl, fd);
    nx_lock_release(fd);
    nx_pipeline_free(pl);
    return code;
}

/* Recover: everything comes from the journal (pipeline, module files,
 * settings, configuration snapshot, journaled state); the current
 * configuration only says where the state folder is. */
static int recover_locked(const nx_out *out, const char *state, nx_faults *faults, int lockfd)
{
    nx_err e;
    json_t *records = NULL;
    nx_journal *j = nx_journal_reopen(state, &records, &e);
    if (!j) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "cannot recover: %s", e.msg);
        return NX_EXIT_ROLLBACK_FAILED;
    }
    json_t *begin = json_array_get(records, 0);
    json_t *last = json_array_get(records, json_array_size(records) - 1);
    const char *id = json_string_value(json_object_get(begin, "id"));
    int code = NX_EXIT_ROLLBACK_FAILED;
    nx_config *cfg = NULL;
    nx_pipeline *pl = NULL;
    const char *last_ev = json_string_value(json_object_get(last, "ev"));
    if (last_ev && strcmp(last_ev, "end") == 0) {
        /* The update was over; only the archiving was cut short. */
        code = nx_journal_archive(j, &e) == 0 ? NX_EXIT_OK : NX_EXIT_ROLLBACK_FAILED;
        nx_log(out, code ? NEXO_LOG_ERROR : NEXO_LOG_INFO, NULL, "%s",
               code ? e.msg : "the interrupted update had already ended; journal archived");
        goto out;
    }
    nx_lock_note(lockfd, id);
    cfg = nx_config_from_json(json_object_get(begin, "config"), &e);
    if (cfg)
        pl = nx_pipeline_from_json(json_object_get(begin, "pipeline"), &e);
    if (!cfg || !pl || nx_pipeline_load_modules(pl, "/", &e) != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "cannot recover update %s: %s", id, e.msg);
        goto out;
    }
    nx_log(out, NEXO_LOG_INFO, NULL, "recovering update %s (pipeline '%s', journal %s)", id,
           pl->name, nx_journal_path(j));
    nx_run r;
    nx_run_init(&r, out, cfg, pl, faults, json_object_get(begin, "info"));
    r.recovering = 1;
    r.j = j;
    int dblock = nx_run_db_lock(&r, &e);
    if (dblock != 0) {
        /* another node is updating the shared database: try again later */
        nx_log(out, NEXO_LOG_ERROR, NULL, "cannot recover update %s yet: %s", id, e.msg);
        r.j = NULL;
        nx_run_free(&r);
        code = dblock == 1 ? NX_EXIT_LOCKED : NX_EXIT_ROLLBACK_FAILED;
        goto out;
    }
    code = nx_engine_resume(&r, records);
    if (r.outcome)
        nx_run_record_history(&r, r.outcome, r.error[0] ? r.error : "interrupted",
                              json_integer_value(json_object_get(begin, "t")) / 1000);
    const char *work = json_string_value(json_object_get(r.info, "work_dir"));
    if (code == NX_EXIT_OK && work && *work && nx_rmtree(work, &e) != 0)
        nx_log(out, NEXO_LOG_WARN, NULL, "%s", e.msg);
    r.j = NULL;
    nx_run_free(&r);
    nx_log(out, code ? NEXO_LOG_ERROR : NEXO_LOG_INFO, NULL, "update %s: %s", id,
           code ? "recovery did not complete; fix the cause above and run 'nexo-update "
                  "recover' again"
                : "recovered; the journal is closed");
out:
    nx_pipeline_free(pl);
    nx_config_free(cfg);
    json_decref(records);
    nx_journal_close(j);
    return code;
}

int nx_update_recover(const nx_out *out, const nx_config *cfg, nx_faults *faults)
{
    nx_err e;
    const char *state = nx_config_get(cfg, "paths", "state");
    char *cur = nx_journal_current(state);
    int exists = access(cur, F_OK) == 0;
    free(cur);
    if (!exists) {
        nx_log(out, NEXO_LOG_INFO, NULL, "nothing to recover: no interrupted update in %s",
               state);
        return NX_EXIT_OK;
    }
    int fd = -1;
    int lk = nx_lock_acquire(state, NULL, &fd, &e);
    if (lk != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        return lk == 1 ? NX_EXIT_LOCKED : NX_EXIT_FAILED;
    }
    int code = recover_locked(out, state, faults, fd);
    nx_lock_release(fd);
    return code;
}
