/* The engine: runs a pipeline's steps in order, unwinds on failure,
 * finalizes on success, and finishes an interrupted update from its
 * journal (see docs/architecture.md). */
#ifndef NX_ENGINE_H
#define NX_ENGINE_H

#include <jansson.h>
#include <nexo/step.h>
#include <nexo/driver.h>
#include "config.h"
#include "fault.h"
#include "journal.h"
#include "pdir.h"
#include "log.h"
#include "pipeline.h"

struct nx_run;

/* The context handed to modules with every call. */
struct nexo_ctx {
    struct nx_run *run;
    size_t idx;             /* step index */
    const char *phase;
    char msg[NX_ERRLEN];
    int has_msg;
    int refused;            /* a private folder failed its check in this call (pdir.h) */
    unsigned checkpoints;   /* reported during the current run */
    unsigned journaled;     /* state records written during run */
    nx_progress prog;
};

/* Exit codes (contracts §2). */
enum {
    NX_EXIT_OK = 0,
    NX_EXIT_FAILED = 1,
    NX_EXIT_USAGE = 2,
    NX_EXIT_ROLLED_BACK = 3,
    NX_EXIT_ROLLBACK_FAILED = 4,
    NX_EXIT_LOCKED = 5,
    NX_EXIT_UPDATES = 100
};

/* Per-step progress of an update, as the journal tells it. */
struct nx_stepst {
    int started, called, done, undone, undo_started, commit_done;
    int planned;    /* a dry run planned it */
};

/* At most this many steps can be inserted into a running update (a
 * plugin's own steps): ctx and st are allocated with room for them, so
 * that inserting never moves the context of the step that inserts. */
#define NX_INSERT_MAX 32

typedef struct nx_run {
    const nx_out *out;
    struct nx_pdirs pdirs;  /* private folders reached by descriptor (pdir.h) */
    const nx_config *cfg;
    nx_pipeline *pl;
    nx_journal *j;
    nx_faults *faults;
    json_t *info;       /* facts: update_id, component, ... (strings) */
    json_t *shared;     /* shared journaled state */
    json_t *states;     /* per step: object of journaled state */
    struct nexo_ctx *ctx;   /* room for pl->nsteps + NX_INSERT_MAX */
    struct nx_stepst *st;   /* the same */
    size_t inserted;        /* steps inserted so far */
    int dry_run;
    int recovering;
    nx_module *driver;
    struct nexo_db db;
    int db_state;       /* 0 untried, 1 open, -1 failed */
    struct nexo_db scratch;  /* a dry run's private copy (driver->scratch) */
    int scratch_state;  /* 0 untried, 1 open, -1 none */
    char db_error[NX_ERRLEN];
    long long started_ms;
    const char *outcome;       /* "success" "rolled_back" "rollback_failed" when known */
    /* The update_history row is written when the outcome is known, BEFORE
     * the journal's end record: a kill between the two leaves the journal
     * open, and recover writes the row again (it replaces the earlier). */
    int record_history;        /* write it (not for dry runs and tests) */
    long long history_t0;      /* started_at, epoch seconds */
    const char *history_error; /* the error to record (recover: the first failure) */
    char error[NX_ERRLEN];     /* the failure that started the unwinding */
} nx_run;

extern const struct nexo_host nx_host_table;

/* Set up a run over a loaded pipeline (modules loaded). */
void nx_run_init(nx_run *r, const nx_out *out, const nx_config *cfg, nx_pipeline *pl,
                 nx_faults *faults, json_t *info);
void nx_run_free(nx_run *r);

/* When a database is configured: connect and take its cross-node
 * advisory lock "nexo-update" (held until the run ends), so that two
 * nodes sharing one database never update it at once. 0 taken (or no
 * database), 1 held by another node, -1 error; e says which. */
int nx_run_db_lock(nx_run *r, nx_err *e);

/* Outside a pipeline: load the configured driver, connect, ask the
 * server's version text (e.g. "15.18", "10.11.6-MariaDB") and disconnect.
 * -1 with e naming the driver and what failed (also when no database is
 * configured). */
/* Milliseconds the site spent in maintenance mode during this run (from
 * the maintenance step's shared maintenance_since/_until; 0 if never). */
long long nx_run_maintenance_ms(const nx_run *r);
/* Write the attempt's update_history row (after the outcome is final). */
void nx_run_record_history(nx_run *r, const char *outcome, const char *error,
                           long long started_s);
/* Run one query on the configured database outside an update. */
int nx_db_query_standalone(const nx_out *out, const nx_config *cfg, const char *sql,
                           nexo_row_fn row, void *arg, nx_err *e);
int nx_db_server_version(const nx_out *out, const nx_config *cfg, char *buf, size_t len,
                         nx_err *e);

/* Call one step function of step i as the engine does (phase set, the
 * message reset, progress ended, a message made when the step left none):
 * 0, or the step's code with r->ctx[i].msg saying why. For commands that
 * run a step outside an update (install's probe of a local package). */
int nx_engine_call(nx_run *r, size_t i, const char *phase, nexo_step_fn fn);
/* validate every step (phase "validate"): 0 or -1 with e naming the step. */
int nx_engine_validate(nx_run *r, nx_err *e);
/* --dry-run with r->j open and the begin record written: run the leading
 * NEXO_STEP_PRECHECK steps, plan the rest, undo what ran (engine.c):
 * 0 planned, 1 refused (e says why), 4 an undo failed. */
int nx_engine_dry_run(nx_run *r, nx_err *e);
/* Run with r->j open and the begin record written: returns an exit code
 * (0, 1, 3, 4) and closes the journal when the update is over. */
int nx_engine_execute(nx_run *r);
/* Finish an interrupted update from its records (r->j reopened):
 * unwind, or roll forward when its commit phase had begun. */
int nx_engine_resume(nx_run *r, const json_t *records);

/* Insert the steps of a pipeline fragment into the running update, after
 * step `caller` (core/insert.c; host->insert_steps). The fragment is an
 * INI file like a pipeline (one section per step instance, `module`,
 * settings) whose every section also says where it goes: `after = NAME`
 * or `before = NAME`, NAME an instance of the running pipeline that comes
 * after the caller. Relative `module` paths and setting values beginning
 * with "./" name files below `base`; they are copied into the update's
 * work folder and used from there. Every module is loaded and validated
 * before anything is inserted (fail closed); then an "insert" record is
 * journaled, so recover rebuilds the same pipeline. 0, or -1 with e. */
int nx_run_insert_steps(nx_run *r, size_t caller, const char *fragment, const char *base,
                        nx_err *e);
/* recover: apply an "insert" record (the steps it names, from their
 * copies in the work folder). 0, or -1 with e. */
int nx_run_replay_insert(nx_run *r, const json_t *rec, nx_err *e);

/* The signal that asked an update to stop (0 if none). */
int nx_interrupted(void);

/* Command-level entry points (lock, journal, work folder). */
struct nx_update_req {
    const char *pipeline;   /* path of the pipeline file */
    const char *component;  /* "core", "plugin:SLUG", ... */
    const char *from;       /* may be NULL */
    const char *to;         /* may be NULL */
    json_t *params;         /* extra facts ("param.NAME"), may be NULL */
    const char *success_outcome; /* update_history outcome of a success
                                    (default "success"; rollback: "manual_rollback") */
    int dry_run;
};
int nx_update_run(const nx_out *out, const nx_config *cfg, const struct nx_update_req *req,
                  nx_faults *faults);
int nx_update_recover(const nx_out *out, const nx_config *cfg, nx_faults *faults);

#endif
