#include "engine.h"
#include "buildconf.h"
#include "lock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void nx_run_init(nx_run *r, const nx_out *out, const nx_config *cfg, nx_pipeline *pl,
                 nx_faults *faults, json_t *info)
{
    memset(r, 0, sizeof *r);
    r->out = out;
    r->cfg = cfg;
    r->pl = pl;
    r->faults = faults;
    r->info = info ? json_incref(info) : json_object();
    r->shared = json_object();
    r->states = json_array();
    r->ctx = nx_xcalloc(pl->nsteps + NX_INSERT_MAX, sizeof *r->ctx);
    r->st = nx_xcalloc(pl->nsteps + NX_INSERT_MAX, sizeof *r->st);
    for (size_t i = 0; i < pl->nsteps + NX_INSERT_MAX; i++) {
        if (i < pl->nsteps)
            json_array_append_new(r->states, json_object());
        r->ctx[i].run = r;
        r->ctx[i].idx = i;
        r->ctx[i].phase = "none";
    }
    r->started_ms = nx_mono_ms();
}

void nx_run_free(nx_run *r)
{
    for (size_t i = 0; r->ctx && i < r->pl->nsteps; i++) {
        const struct nexo_step_module *m = r->pl->steps[i].mod ? r->pl->steps[i].mod->step : NULL;
        if (m && m->cleanup) {
            r->ctx[i].phase = "cleanup";
            m->cleanup(&nx_host_table, &r->ctx[i]);
        }
    }
    if (r->scratch_state == 1 && r->scratch.driver)
        r->scratch.driver->disconnect(r->scratch.conn);
    if (r->db_state == 1 && r->db.driver)
        r->db.driver->disconnect(r->db.conn);
    nx_module_unload(r->driver);
    nx_pdirs_close(&r->pdirs);
    json_decref(r->info);
    json_decref(r->shared);
    json_decref(r->states);
    free(r->ctx);
    free(r->st);
    memset(r, 0, sizeof *r);
}

static const char *sname(const nx_run *r, size_t i)
{
    return r->pl->steps[i].name;
}

static const struct nexo_step_module *smod(const nx_run *r, size_t i)
{
    return r->pl->steps[i].mod->step;
}

/* Call one of a step's functions with a fresh message buffer. */
static int call(nx_run *r, size_t i, const char *phase, nexo_step_fn fn)
{
    struct nexo_ctx *c = &r->ctx[i];
    c->phase = phase;
    c->has_msg = 0;
    c->refused = 0;
    c->msg[0] = '\0';
    if (strcmp(phase, "run") == 0) {
        c->checkpoints = 0;
        c->journaled = 0;
    }
    c->prog.call_ms = nx_mono_ms();
    int rc = fn(&nx_host_table, c);
    nx_progress_end(r->out, &c->prog);
    if (rc == 0 && c->refused)
        rc = NEXO_EVERIFY; /* a private folder failed its check: never a success (pdir.h) */
    if (rc != 0 && !c->has_msg)
        snprintf(c->msg, sizeof c->msg, "%s failed: %s", phase, nx_host_table.strerror(rc));
    if (rc > 0)
        rc = NEXO_ERROR;
    return rc;
}

int nx_engine_call(nx_run *r, size_t i, const char *phase, nexo_step_fn fn)
{
    return call(r, i, phase, fn);
}

static int injected(nx_run *r, size_t i, enum nx_point p)
{
    if (nx_fault_hit(r->faults, sname(r, i), p, 0) != NX_FAIL)
        return 0;
    snprintf(r->ctx[i].msg, sizeof r->ctx[i].msg, "NEXO_FAULT: injected failure at %s",
             nx_point_name(p));
    return NEXO_EINJECTED;
}

/* Append a record; on failure log it and return -1 (the caller decides
 * whether it may go on: nothing is started that the journal does not
 * know about). */
static int jlog(nx_run *r, const char *ev, json_t *fields)
{
    nx_err e;
    if (!r->j) {
        json_decref(fields);
        return 0;
    }
    if (nx_journal_append(r->j, ev, fields, &e) != 0) {
        nx_log(r->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* SIGINT, SIGTERM and SIGHUP during an update do not kill the process:
 * they make the update fail at the next step boundary or checkpoint, so
 * that it is unwound like any failure. While unwinding or finalizing they
 * are noted and otherwise ignored. */
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

int nx_interrupted(void)
{
    return got_signal;
}

static void catch_signals(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (on)
        got_signal = 0;
}

static int interrupted_msg(nx_run *r, size_t i)
{
    snprintf(r->ctx[i].msg, sizeof r->ctx[i].msg, "interrupted by signal %d (%s)",
             (int)got_signal, strsignal(got_signal));
    return NEXO_ERROR;
}

/* "340 ms", "2.4 s": how long a step took, for its line. */
static const char *took(long long ms, char *buf, size_t len)
{
    if (ms < 1000)
        snprintf(buf, len, "%lld ms", ms);
    else
        snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
    return buf;
}

static json_t *stepf(size_t i)
{
    return json_pack("{s:I}", "step", (json_int_t)i);
}

int nx_engine_validate(nx_run *r, nx_err *e)
{
    for (size_t i = 0; i < r->pl->nsteps; i++) {
        const struct nexo_step_module *m = smod(r, i);
        if (!m->validate)
            continue;
        if (call(r, i, "validate", m->validate) != 0) {
            nx_seterr(e, "[%s] %s", sname(r, i), r->ctx[i].msg);
            return -1;
        }
    }
    return 0;
}

/* Run step i: 0 or a negative code (message in ctx). */
static int run_step(nx_run *r, size_t i, int *called)
{
    const struct nexo_step_module *m = smod(r, i);
    long long t0 = nx_mono_ms();
    nx_log(r->out, NEXO_LOG_INFO, sname(r, i), "running (%zu/%zu)", i + 1, r->pl->nsteps);
    if (jlog(r, "step-start", json_pack("{s:I, s:s}", "step", (json_int_t)i, "name",
                                        sname(r, i))) != 0) {
        snprintf(r->ctx[i].msg, sizeof r->ctx[i].msg,
                 "not started: the journal cannot record it");
        return NEXO_EIO;
    }
    int rc = got_signal ? interrupted_msg(r, i) : 0;
    if (rc == 0)
        rc = injected(r, i, NX_BEFORE_RUN);
    if (rc == 0) {
        *called = 1;
        rc = call(r, i, "run", m->run);
    }
    if (rc == 0)
        rc = injected(r, i, NX_AFTER_RUN);
    if (rc == 0 && got_signal)
        rc = interrupted_msg(r, i);
    long long ms = nx_mono_ms() - t0;
    if (rc == 0) {
        jlog(r, "step-done", json_pack("{s:I, s:I}", "step", (json_int_t)i, "ms", ms));
        char t[48];
        nx_log(r->out, NEXO_LOG_INFO, sname(r, i), "done in %s", took(ms, t, sizeof t));
    } else {
        jlog(r, "step-failed", json_pack("{s:I, s:s}", "step", (json_int_t)i, "error",
                                         r->ctx[i].msg));
        char t[48];
        nx_log(r->out, NEXO_LOG_ERROR, sname(r, i), "%s", r->ctx[i].msg);
        nx_log(r->out, NEXO_LOG_INFO, sname(r, i), "failed after %s", took(ms, t, sizeof t));
    }
    return rc;
}

static int undo_step(nx_run *r, size_t i)
{
    const struct nexo_step_module *m = smod(r, i);
    long long t0 = nx_mono_ms();
    nx_log(r->out, NEXO_LOG_INFO, sname(r, i), "undoing");
    jlog(r, "undo-start", stepf(i));
    int rc = injected(r, i, NX_BEFORE_UNDO);
    if (rc == 0)
        rc = call(r, i, "undo", m->undo);
    if (rc == 0)
        rc = injected(r, i, NX_AFTER_UNDO);
    if (rc == 0) {
        jlog(r, "undo-done", stepf(i));
        char t[48];
        nx_log(r->out, NEXO_LOG_INFO, sname(r, i), "undone in %s",
               took(nx_mono_ms() - t0, t, sizeof t));
    } else {
        jlog(r, "undo-failed", json_pack("{s:I, s:s}", "step", (json_int_t)i, "error",
                                         r->ctx[i].msg));
        nx_log(r->out, NEXO_LOG_ERROR, sname(r, i), "undo failed: %s", r->ctx[i].msg);
    }
    return rc;
}

/* Undo, from the last to the first, every step that started and is not
 * undone yet. Stops at the first undo that fails: what came before it may
 * depend on it (maintenance mode must not end before files are back). */
static int unwind(nx_run *r, struct nx_stepst *st)
{
    for (size_t k = r->pl->nsteps; k-- > 0;) {
        if (!st[k].started || st[k].undone)
            continue;
        if (undo_step(r, k) != 0)
            return -1;
        st[k].undone = 1;
    }
    return 0;
}

/* Finalize. Once "commit-begin" is on disk the update is decided: a crash
 * from here on is finished forward by recover. */
static void commit_all(nx_run *r, struct nx_stepst *st)
{
    for (size_t i = 0; i < r->pl->nsteps; i++) {
        const struct nexo_step_module *m = smod(r, i);
        if (st[i].commit_done)
            continue;
        if (m->commit && call(r, i, "commit", m->commit) != 0) {
            nx_log(r->out, NEXO_LOG_WARN, sname(r, i),
                   "finalizing failed (the update stands): %s", r->ctx[i].msg);
            jlog(r, "commit-failed", json_pack("{s:I, s:s}", "step", (json_int_t)i, "error",
                                               r->ctx[i].msg));
        } else {
            jlog(r, "commit-done", stepf(i));
        }
        st[i].commit_done = 1;
    }
}

/* Did a step that changes the site get to work? A step journals what
 * undo needs before it acts (state_set, checkpoint), so a step that failed
 * before journaling anything changed nothing — e.g. migrate refusing a
 * malformed file. After a crash only "started" is known: that counts. */
static int changed_site(const nx_run *r, const struct nx_stepst *st)
{
    for (size_t i = 0; i < r->pl->nsteps; i++) {
        if (smod(r, i)->flags & NEXO_STEP_PRECHECK)
            continue;
        if (r->recovering ? st[i].started : st[i].called && r->ctx[i].journaled > 0)
            return 1;
    }
    return 0;
}

static void history(nx_run *r)
{
    if (r->record_history)
        nx_run_record_history(r, r->outcome, r->history_error ? r->history_error
                                             : r->error[0] ? r->error : NULL, r->history_t0);
}

static int finish(nx_run *r, const char *outcome, json_t *fields, int code)
{
    nx_err e;
    r->outcome = outcome;
    history(r);
    if (nx_journal_end(r->j, outcome, fields, &e) != 0) {
        nx_log(r->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        return NX_EXIT_ROLLBACK_FAILED;
    }
    return code;
}

static int after_failure(nx_run *r, struct nx_stepst *st, const char *error)
{
    int changed = changed_site(r, st);
    if (error)
        snprintf(r->error, sizeof r->error, "%s", error);
    if (unwind(r, st) != 0) {
        r->outcome = "rollback_failed";
        nx_log(r->out, NEXO_LOG_ERROR, NULL,
               "the rollback did not complete; the journal %s keeps what is left to undo: "
               "fix the cause, then run 'nexo-update recover'", nx_journal_path(r->j));
        history(r);
        return NX_EXIT_ROLLBACK_FAILED;
    }
    json_t *f = json_pack("{s:b, s:s?, s:b}", "changed", changed, "error", error, "recovered",
                          r->recovering);
    /* nothing changed: nothing was rolled back — refused (a check, a
     * signature), or interrupted (a signal; recover after a kill) */
    const char *outcome = changed ? "rolled_back"
                          : r->recovering || got_signal ? "interrupted" : "refused";
    return finish(r, outcome, f, changed ? NX_EXIT_ROLLED_BACK : NX_EXIT_FAILED);
}

int nx_engine_execute(nx_run *r)
{
    struct nx_stepst *st = r->st;
    int code;
    char *err = NULL;
    catch_signals(1);
    /* r->pl->nsteps may grow while running: a step may insert steps */
    for (size_t i = 0; i < r->pl->nsteps && !err; i++) {
        st[i].started = 1;
        if (run_step(r, i, &st[i].called) != 0)
            err = nx_xasprintf("[%s] %s", sname(r, i), r->ctx[i].msg);
        else
            st[i].done = 1;
    }
    if (!err && jlog(r, "commit-begin", NULL) != 0)
        err = nx_xstrdup("the journal cannot record the decision to finalize");
    if (err) {
        code = after_failure(r, st, err);
    } else {
        commit_all(r, st);
        code = finish(r, "success", NULL, NX_EXIT_OK);
    }
    catch_signals(0);
    free(err);
    return code;
}

/* A dry run (--dry-run): the steps that lead the pipeline and never
 * change the live site (NEXO_STEP_PRECHECK: the checks, download, verify,
 * extract) run for real, so that every later step plans from the package
 * that would be installed, fetched, verified and staged in the update's
 * private folders; the later steps plan; then the steps that ran are
 * undone, from the last, which drops what they fetched and staged. Fact
 * "dry_run" is "1" throughout. Journaled like an update (r->j open, begin
 * written), so a dry run killed halfway is unwound by recover. Returns 0
 * (planned), 1 (a step refused: e says which) or 4 (an undo failed). */
int nx_engine_dry_run(nx_run *r, nx_err *e)
{
    struct nx_stepst *st = r->st;
    int leading = 1, failed = 0;
    e->msg[0] = '\0';
    catch_signals(1);
    /* r->pl->nsteps may grow while running: a step may insert steps */
    for (size_t i = 0; i < r->pl->nsteps && !failed; i++) {
        const struct nexo_step_module *m = smod(r, i);
        leading = leading && (m->flags & NEXO_STEP_PRECHECK);
        if (leading) {
            st[i].started = 1;
            if (run_step(r, i, &st[i].called) != 0)
                failed = 1;
            else
                st[i].done = 1;
        } else {
            nx_log(r->out, NEXO_LOG_INFO, NULL, "step %zu/%zu [%s]: %s %s (%s)", i + 1,
                   r->pl->nsteps, sname(r, i), m->name, m->version,
                   r->pl->steps[i].module_path);
            if (got_signal)
                failed = interrupted_msg(r, i) != 0;
            else if (m->plan && call(r, i, "plan", m->plan) != 0)
                failed = 1;
            else
                st[i].planned = 1;
        }
        if (failed) {
            nx_seterr(e, "[%s] %s", sname(r, i), r->ctx[i].msg);
            if (!leading)
                nx_log(r->out, NEXO_LOG_ERROR, sname(r, i), "%s", r->ctx[i].msg);
        }
    }
    int code = failed ? NX_EXIT_FAILED : NX_EXIT_OK;
    if (failed)
        snprintf(r->error, sizeof r->error, "%s", e->msg);
    if (unwind(r, st) != 0) {
        r->outcome = "rollback_failed";
        nx_log(r->out, NEXO_LOG_ERROR, NULL,
               "the dry run could not drop what it fetched and staged; the journal %s keeps "
               "what is left to undo: fix the cause, then run 'nexo-update recover'",
               nx_journal_path(r->j));
        code = NX_EXIT_ROLLBACK_FAILED;
    } else {
        code = finish(r, failed ? "refused" : "planned",
                      json_pack("{s:b, s:s?}", "dry_run", 1, "error", failed ? e->msg : NULL),
                      code);
    }
    catch_signals(0);
    return code;
}

static int step_of(const json_t *rec, size_t n, size_t *i)
{
    json_t *s = json_object_get(rec, "step");
    if (!json_is_integer(s) || json_integer_value(s) < 0 || (size_t)json_integer_value(s) >= n)
        return -1;
    *i = (size_t)json_integer_value(s);
    return 0;
}

/* Rebuild step progress and journaled state from the records. */
static int replay(nx_run *r, const json_t *records, struct nx_stepst *st, int *commit_begun)
{
    size_t idx;
    json_t *rec;
    json_array_foreach(records, idx, rec) {
        const char *ev = json_string_value(json_object_get(rec, "ev"));
        size_t i = 0, n = r->pl->nsteps;
        if (!ev)
            return -1;
        if (strcmp(ev, "commit-begin") == 0) {
            *commit_begun = 1;
            continue;
        }
        if (strcmp(ev, "insert") == 0) {
            nx_err e;
            if (nx_run_replay_insert(r, rec, &e) != 0) {
                nx_log(r->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
                return -1;
            }
            continue;
        }
        if (strcmp(ev, "begin") == 0 || strcmp(ev, "end") == 0 || strcmp(ev, "recover") == 0)
            continue;
        if (step_of(rec, n, &i) != 0)
            return -1;
        const char *key = json_string_value(json_object_get(rec, "key"));
        json_t *val = json_object_get(rec, "value");
        if (strcmp(ev, "step-start") == 0)
            st[i].started = 1;
        else if (strcmp(ev, "step-done") == 0)
            st[i].done = 1;
        else if (strcmp(ev, "undo-start") == 0)
            st[i].undo_started = 1;
        else if (strcmp(ev, "undo-done") == 0)
            st[i].undone = 1;
        else if (strcmp(ev, "commit-done") == 0 || strcmp(ev, "commit-failed") == 0)
            st[i].commit_done = 1;
        else if ((strcmp(ev, "state") == 0 || strcmp(ev, "shared") == 0) && key) {
            json_t *obj = strcmp(ev, "state") == 0 ? json_array_get(r->states, i) : r->shared;
            if (json_is_string(val))
                json_object_set(obj, key, val);
            else
                json_object_del(obj, key);
        }
    }
    return 0;
}

int nx_engine_resume(nx_run *r, const json_t *records)
{
    struct nx_stepst *st = r->st;
    int commit_begun = 0, code;
    if (replay(r, records, st, &commit_begun) != 0) {
        nx_log(r->out, NEXO_LOG_ERROR, NULL, "%s: a record names no step of this update",
               nx_journal_path(r->j));
        return NX_EXIT_ROLLBACK_FAILED;
    }
    jlog(r, "recover", json_pack("{s:i}", "pid", (int)getpid()));
    catch_signals(1);
    if (commit_begun) {
        nx_log(r->out, NEXO_LOG_INFO, NULL,
               "every step had succeeded: finishing the update (finalize)");
        commit_all(r, st);
        code = finish(r, "success", json_pack("{s:b}", "recovered", 1), NX_EXIT_OK);
    } else {
        code = after_failure(r, st, "interrupted");
        if (code == NX_EXIT_ROLLED_BACK || code == NX_EXIT_FAILED)
            code = NX_EXIT_OK;
    }
    catch_signals(0);
    return code;
}
