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

/* ---- the run's report (--json of the commands that update) ---------------- */

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static const char *outcome_of(int code, int dry)
{
    if (dry)
        return code == NX_EXIT_OK ? "planned" : "refused";
    switch (code) {
    case NX_EXIT_OK: return "success";
    case NX_EXIT_ROLLED_BACK: return "rolled_back";
    case NX_EXIT_ROLLBACK_FAILED: return "rollback_failed";
    default: return "refused";
    }
}

static json_t *iso_time(long long epoch_ms)
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    char buf[40];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

/* The report's frame: everything but the steps. */
static json_t *report_new(const struct nx_update_req *req, const char *pipeline_name,
                          const char *id, int code, const char *error, long long started_ms,
                          long long ms, long long maint_ms, const char *log_file)
{
    json_t *doc = nx_report_frame(outcome_of(code, req->dry_run), code,
                                  req->component ? req->component : "custom", req->from,
                                  req->to, error);
    json_object_set_new(doc, "update_id", jstr(id));
    json_object_set_new(doc, "pipeline", jstr(pipeline_name));
    json_object_set_new(doc, "pipeline_file", jstr(req->pipeline));
    json_object_set_new(doc, "dry_run", json_boolean(req->dry_run));
    json_object_set_new(doc, "started_at", iso_time(started_ms));
    json_object_set_new(doc, "duration_ms", json_integer(ms));
    json_object_set_new(doc, "maintenance_seconds",
                        json_real((double)((maint_ms + 5) / 10) / 100.0));
    json_object_set_new(doc, "maintenance_ms", json_integer(maint_ms));
    json_object_set_new(doc, "log_file", jstr(log_file));
    return doc;
}

/* The journal of update id: archived <id>.jnl, or current.jnl (exit 4). */
static json_t *journal_records(const char *state, const char *id)
{
    char *dir = nx_journal_dir(state);
    char *file = nx_xasprintf("%s/%s.jnl", dir, id);
    json_t *records = NULL;
    int torn = 0;
    nx_err e;
    if (access(file, F_OK) != 0) {
        free(file);
        file = nx_journal_current(state);
    }
    if (nx_journal_read(file, &records, &torn, &e) != 0)
        records = NULL;
    const char *bid = json_string_value(json_object_get(json_array_get(records, 0), "id"));
    if (records && (!bid || strcmp(bid, id) != 0)) {
        json_decref(records); /* another update's journal */
        records = NULL;
    }
    free(file);
    free(dir);
    return records;
}

/* Keep the report for the command (--json); a run without a command's
 * sink drops it. */
static void report_set(const nx_out *out, json_t *doc)
{
    if (out->sink) {
        json_decref(out->sink->report);
        out->sink->report = doc;
    } else {
        json_decref(doc);
    }
}

static void outcome_line(const nx_out *out, const char *id, const struct nx_update_req *req,
                         int code, long long ms, long long maint_ms)
{
    char vers[256] = "";
    if (req->from || req->to)
        snprintf(vers, sizeof vers,
                 !req->from ? " %.0snew install of %s" : " %s -> %s",
                 req->from ? req->from : "", req->to ? req->to : "(not installed)");
    if (req->dry_run) {
        nx_log(out, code == NX_EXIT_OK ? NEXO_LOG_INFO : NEXO_LOG_ERROR, NULL,
               "dry run %s (%s%s) %s in %.*f s: nothing on the site was changed", id,
               req->component ? req->component : "custom", vers,
               code == NX_EXIT_OK ? "planned"
               : code == NX_EXIT_FAILED ? "refused"
               : "could not drop what it staged: run 'nexo-update recover'",
               ms < 10000 ? 2 : 1, (double)ms / 1000.0);
        return;
    }
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

/* Logs follow the backups' retention, applied at the start of every
 * update: docs/operations.md, "Logs". */
static void prune_logs(const nx_out *out, const nx_config *cfg)
{
    const char *days = nx_config_get(cfg, "backup", "keep_days");
    const char *backups = nx_config_get(cfg, "paths", "backups");
    long keep_days = days ? strtol(days, NULL, 10) : 30;
    if (backups)
        nx_logs_prune(out, nx_config_get(cfg, "paths", "state"), backups,
                      keep_days < 0 ? 0 : keep_days);
}

/* Open the update's log; a log that cannot be written is a warning. */
static void open_log(const nx_out *out, const char *state, const char *id)
{
    nx_err e;
    if (out->sink && nx_sink_open(out->sink, state, id, &e) != 0)
        nx_log(out, NEXO_LOG_WARN, NULL, "%s", e.msg);
}

static int run_locked(const nx_out *out, const nx_config *cfg, const struct nx_update_req *req,
                      nx_faults *faults, nx_pipeline *pl, int lockfd)
{
    nx_err e;
    long long t_wall = nx_now_ms();
    const char *state = nx_config_get(cfg, "paths", "state");
    char *cur = nx_journal_current(state);
    if (access(cur, F_OK) == 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL,
               "an interrupted update is waiting in %s: run 'nexo-update recover' first", cur);
        char *msg = nx_xasprintf("an interrupted update is waiting in %s", cur);
        report_set(out, report_new(req, pl->name, NULL, NX_EXIT_FAILED, msg, t_wall, 0, 0,
                                   NULL));
        free(msg);
        free(cur);
        return NX_EXIT_FAILED;
    }
    free(cur);
    prune_logs(out, cfg);
    char *id = new_update_id();
    char *work = nx_xasprintf("%s/work/%s", state, id);
    open_log(out, state, id);
    nx_lock_note(lockfd, id);
    json_t *info = make_info(req, id, work, pl->name);
    if (req->dry_run)
        json_object_set_new(info, "dry_run", json_string("1"));
    nx_run r;
    nx_run_init(&r, out, cfg, pl, faults, info);
    r.dry_run = req->dry_run;
    json_decref(info);
    int code = NX_EXIT_FAILED;
    e.msg[0] = '\0';
    /* a dry run changes nothing in the database: it takes no lock there */
    int dblock = req->dry_run ? 0 : nx_run_db_lock(&r, &e);
    if (dblock != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        code = dblock == 1 ? NX_EXIT_LOCKED : NX_EXIT_FAILED;
        goto out;
    }
    if (nx_engine_validate(&r, &e) != 0 || nx_mkdirs(work, 0700, &e) != 0 ||
        begin_journal(&r, cfg, pl, id, &e) != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        nx_err e2;
        nx_rmtree(work, &e2);
        goto out;
    }
    nx_log(out, NEXO_LOG_INFO, NULL, "%s %s: pipeline '%s', %zu steps%s%s",
           req->dry_run ? "dry run" : "update", id, pl->name, pl->nsteps,
           out->sink && out->sink->fd >= 0 ? "; log " : "",
           out->sink && out->sink->fd >= 0 ? out->sink->path : "");
    if (req->dry_run) {
        nx_log(out, NEXO_LOG_INFO, NULL, "dry run: the steps up to the first that could "
               "change the site run (the package is fetched, verified and staged privately), "
               "the rest plan; then what ran is dropped: nothing on the site changes");
        code = nx_engine_dry_run(&r, &e);
    } else {
        r.record_history = 1;
        r.history_t0 = nx_now_ms() / 1000;
        code = nx_engine_execute(&r);
    }
    if (code != NX_EXIT_ROLLBACK_FAILED && nx_rmtree(work, &e) != 0)
        nx_log(out, NEXO_LOG_WARN, NULL, "%s", e.msg);
    snprintf(e.msg, sizeof e.msg, "%s", r.error);
    outcome_line(out, id, req, code, nx_mono_ms() - r.started_ms, nx_run_maintenance_ms(&r));
out:;
    json_t *doc = report_new(req, pl->name, id, code, e.msg, t_wall,
                             nx_mono_ms() - r.started_ms, nx_run_maintenance_ms(&r),
                             out->sink && out->sink->fd >= 0 ? out->sink->path : NULL);
    json_t *records = journal_records(state, id);
    if (records) {
        json_t *steps = nx_report_steps(records);
        size_t i;
        json_t *s;
        json_array_foreach(steps, i, s)
            if (i < pl->nsteps && r.st[i].planned)
                json_object_set_new(s, "outcome", json_string("planned"));
        json_object_set_new(doc, "steps", steps);
        json_decref(records);
    }
    report_set(out, doc);
    nx_journal_close(r.j);
    r.j = NULL;
    nx_run_free(&r);
    free(work);
    free(id);
    return code;
}

static int update_run(const nx_out *out, const nx_config *cfg, const struct nx_update_req *req,
                      nx_faults *faults)
{
    nx_err e;
    nx_pipeline *pl = nx_pipeline_parse(req->pipeline, &e);
    if (!pl || nx_pipeline_load_modules(pl, nx_config_get(cfg, "paths", "modules"), &e) != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        nx_log(out, NEXO_LOG_ERROR, NULL, "nothing was run: every module of a pipeline must "
                                          "load before any step runs");
        report_set(out, report_new(req, pl ? pl->name : NULL, NULL, NX_EXIT_FAILED, e.msg,
                                   nx_now_ms(), 0, 0, NULL));
        nx_pipeline_free(pl);
        return NX_EXIT_FAILED;
    }
    int fd = -1;
    int lk = nx_lock_acquire(nx_config_get(cfg, "paths", "state"), NULL, &fd, &e);
    if (lk != 0) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        int code = lk == 1 ? NX_EXIT_LOCKED : NX_EXIT_FAILED;
        report_set(out, report_new(req, pl->name, NULL, code, e.msg, nx_now_ms(), 0, 0, NULL));
        nx_pipeline_free(pl);
        return code;
    }
    int code = run_locked(out, cfg, req, faults, pl, fd);
    nx_lock_release(fd);
    nx_pipeline_free(pl);
    return code;
}

/* Every update writes its log (STATE/logs/<id>.log and syslog): into the
 * command's sink when it has one (which then also keeps the report and
 * the lines printed before the update id existed), else into one of its
 * own. */
int nx_update_run(const nx_out *out, const nx_config *cfg, const struct nx_update_req *req,
                  nx_faults *faults)
{
    if (out->sink)
        return update_run(out, cfg, req, faults);
    nx_logsink sink;
    nx_sink_init(&sink);
    nx_out o = *out;
    o.sink = &sink;
    int code = update_run(&o, cfg, req, faults);
    nx_sink_free(&sink);
    return code;
}

/* The error of an interrupted update for its history row: the first step
 * failure the journal recorded (an update that failed and whose undo
 * failed too, exit 4), else what the resumed run says, else "interrupted". */
static const char *first_failure(const json_t *records, const char *now)
{
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec) {
        const char *ev = json_string_value(json_object_get(rec, "ev"));
        const char *err = json_string_value(json_object_get(rec, "error"));
        if (ev && err && strcmp(ev, "step-failed") == 0)
            return err;
    }
    return now && *now ? now : "interrupted";
}

/* Recover: everything comes from the journal (pipeline, module files,
 * settings, configuration snapshot, journaled state); the current
 * configuration only says where the state folder is. Its lines are
 * appended to the update's log. */
static int recover_locked(const nx_out *out, const char *state, nx_faults *faults, int lockfd)
{
    nx_err e;
    json_t *records = NULL;
    char *cur = nx_journal_current(state);
    int unstarted = nx_journal_unstarted(cur, &e);
    if (unstarted == 1) {
        char *moved = nx_journal_close_unstarted(state, &e);
        if (!moved)
            nx_log(out, NEXO_LOG_ERROR, NULL, "cannot recover: %s", e.msg);
        else
            nx_log(out, NEXO_LOG_INFO, NULL,
                   "%s has no begin record: an update stopped while creating its journal, "
                   "before any step ran; nothing to undo; the journal is closed (moved to %s)",
                   cur, moved);
        free(cur);
        free(moved);
        return moved ? NX_EXIT_OK : NX_EXIT_ROLLBACK_FAILED;
    }
    free(cur);
    nx_journal *j = nx_journal_reopen(state, &records, &e);
    if (!j) {
        nx_log(out, NEXO_LOG_ERROR, NULL, "cannot recover: %s", e.msg);
        return NX_EXIT_ROLLBACK_FAILED;
    }
    json_t *begin = json_array_get(records, 0);
    json_t *last = json_array_get(records, json_array_size(records) - 1);
    const char *id = json_string_value(json_object_get(begin, "id"));
    if (id && nx_is_update_id(id))
        open_log(out, state, id);
    nx_log(out, NEXO_LOG_INFO, NULL, "recover (pid %d): update %s", (int)getpid(),
           id ? id : "?");
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
    /* a dry run killed halfway: its undo drops what it staged, and it
     * was never an update attempt (no update_history row) */
    const char *dry = json_string_value(json_object_get(r.info, "dry_run"));
    r.dry_run = dry && strcmp(dry, "1") == 0;
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
    r.record_history = !r.dry_run;
    r.history_t0 = json_integer_value(json_object_get(begin, "t")) / 1000;
    /* the first failure the journal recorded, else "interrupted" */
    r.history_error = first_failure(records, NULL);
    code = nx_engine_resume(&r, records);
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

static int update_recover(const nx_out *out, const nx_config *cfg, nx_faults *faults)
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

int nx_update_recover(const nx_out *out, const nx_config *cfg, nx_faults *faults)
{
    if (out->sink)
        return update_recover(out, cfg, faults);
    nx_logsink sink;
    nx_sink_init(&sink);
    nx_out o = *out;
    o.sink = &sink;
    int code = update_recover(&o, cfg, faults);
    nx_sink_free(&sink);
    return code;
}
