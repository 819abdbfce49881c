/* The engine's unwind and resume, with in-process fake steps. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "journal.h"

#define MAXN 8

/* What happened, in order: "r3" run of step 3, "u3" undo, "c3" commit. */
static char events[256][32];
static size_t nevents;
static int fail_run_at = -1;   /* step index whose run fails */
static int fail_undo_at = -1;  /* step index whose undo fails */

static void ev(char kind, const struct nexo_host *h, nexo_ctx *c)
{
    const char *name = h->info(c, "step");
    snprintf(events[nevents++], sizeof events[0], "%c%s", kind, name + 1);
}

static int idx_of(const struct nexo_host *h, nexo_ctx *c)
{
    return atoi(h->info(c, "step") + 1) - 1;
}

static int t_run(const struct nexo_host *h, nexo_ctx *c)
{
    ev('r', h, c);
    if (h->state_set(c, "ran", "yes") != 0)
        return NEXO_EIO;
    if (idx_of(h, c) == fail_run_at)
        return (h->fail)(c, NEXO_ERROR, "planned failure");
    return 0;
}

static int t_undo(const struct nexo_host *h, nexo_ctx *c)
{
    ev('u', h, c);
    if (idx_of(h, c) == fail_undo_at)
        return (h->fail)(c, NEXO_ERROR, "planned undo failure");
    return 0;
}

static int t_commit(const struct nexo_host *h, nexo_ctx *c)
{
    ev('c', h, c);
    return 0;
}

static int fail_plan_at = -1;  /* step index whose plan fails */

static int t_plan(const struct nexo_host *h, nexo_ctx *c)
{
    ev('p', h, c);
    /* a plan tells later plans what it found */
    if (h->shared_set(c, "planned", h->info(c, "step")) != 0)
        return NEXO_EIO;
    if (idx_of(h, c) == fail_plan_at)
        return (h->fail)(c, NEXO_ERROR, "planned plan failure");
    return 0;
}

static const struct nexo_step_module change_step = {
    NEXO_STEP_HEADER, .name = "t", .version = "1.0.0", .plan = t_plan, .run = t_run,
    .undo = t_undo, .commit = t_commit,
};
static const struct nexo_step_module check_step = {
    NEXO_STEP_HEADER, .name = "t", .version = "1.0.0", .flags = NEXO_STEP_PRECHECK,
    .plan = t_plan, .run = t_run, .undo = t_undo, .commit = t_commit,
};

static nx_module mods[MAXN];
static char state_dir[256];
static nx_out quiet = { .verbosity = 0 };

static nx_pipeline *make_pipeline(size_t n, size_t nprecheck)
{
    nx_pipeline *p = nx_xcalloc(1, sizeof *p);
    p->file = nx_xstrdup("test.ini");
    p->name = nx_xstrdup("test");
    p->nsteps = n;
    p->steps = nx_xcalloc(n, sizeof *p->steps);
    for (size_t i = 0; i < n; i++) {
        mods[i].kind = NX_STEP;
        mods[i].step = i < nprecheck ? &check_step : &change_step;
        p->steps[i].name = nx_xasprintf("s%zu", i + 1);
        p->steps[i].module = nx_xstrdup("t");
        p->steps[i].module_path = nx_xstrdup("/t.so");
    }
    return p;
}

static void free_pipeline(nx_pipeline *p)
{
    for (size_t i = 0; i < p->nsteps; i++)
        p->steps[i].mod = NULL; /* static, not dlopen'ed */
    nx_pipeline_free(p);
}

static nx_config *make_config(void)
{
    char *path = nx_xasprintf("%s/nexo.ini", state_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[paths]\nstate = %s/state\n", state_dir);
    fclose(f);
    nx_err e;
    nx_config *cfg = nx_config_load(path, &e);
    ck_assert_msg(cfg != NULL, "%s", e.msg);
    free(path);
    return cfg;
}

/* Run the pipeline with a journal; return the exit code. */
static int execute(nx_pipeline *p, nx_config *cfg)
{
    for (size_t i = 0; i < p->nsteps; i++)
        p->steps[i].mod = &mods[i];
    nx_run r;
    nx_run_init(&r, &quiet, cfg, p, NULL, NULL);
    nx_err e;
    r.j = nx_journal_create(nx_config_get(cfg, "paths", "state"),
                            json_pack("{s:s}", "id", "test-update"), &e);
    ck_assert_msg(r.j != NULL, "%s", e.msg);
    int code = nx_engine_execute(&r);
    nx_journal_close(r.j);
    r.j = NULL;
    nx_run_free(&r);
    return code;
}

/* A dry run with a journal: its exit code and the journal's outcome. */
static int dry_run(nx_pipeline *p, nx_config *cfg, char *outcome, size_t len)
{
    for (size_t i = 0; i < p->nsteps; i++)
        p->steps[i].mod = &mods[i];
    nx_run r;
    nx_run_init(&r, &quiet, cfg, p, NULL, NULL);
    r.dry_run = 1;
    nx_err e;
    r.j = nx_journal_create(nx_config_get(cfg, "paths", "state"),
                            json_pack("{s:s}", "id", "test-dry"), &e);
    ck_assert_msg(r.j != NULL, "%s", e.msg);
    int code = nx_engine_dry_run(&r, &e);
    snprintf(outcome, len, "%s", r.outcome ? r.outcome : "");
    nx_journal_close(r.j);
    r.j = NULL;
    nx_run_free(&r);
    return code;
}

static void setup(void)
{
    snprintf(state_dir, sizeof state_dir, "/tmp/nx-engine-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state_dir));
    nevents = 0;
    fail_run_at = fail_undo_at = fail_plan_at = -1;
}

static void teardown(void)
{
    nx_err e;
    nx_rmtree(state_dir, &e);
}

/* For N steps and every k, step k fails: undo ran on k, k-1 ... 1 in that
 * order, exactly once each, and finalize (commit) never ran. */
START_TEST(unwind_every_k)
{
    const size_t n = 5;
    for (size_t k = 0; k < n; k++) {
        setup();
        fail_run_at = (int)k;
        nx_config *cfg = make_config();
        nx_pipeline *p = make_pipeline(n, 0);
        int code = execute(p, cfg);
        ck_assert_int_eq(code, NX_EXIT_ROLLED_BACK);
        char want[256][32];
        size_t nw = 0;
        for (size_t i = 0; i <= k; i++)
            snprintf(want[nw++], sizeof want[0], "r%zu", i + 1);
        for (size_t i = k + 1; i-- > 0;)
            snprintf(want[nw++], sizeof want[0], "u%zu", i + 1);
        ck_assert_uint_eq(nevents, nw);
        for (size_t i = 0; i < nw; i++)
            ck_assert_str_eq(events[i], want[i]);
        for (size_t i = 0; i < nevents; i++)
            ck_assert_int_ne(events[i][0], 'c');
        free_pipeline(p);
        nx_config_free(cfg);
        teardown();
    }
}
END_TEST

START_TEST(success_commits_in_order)
{
    setup();
    nx_config *cfg = make_config();
    nx_pipeline *p = make_pipeline(3, 0);
    ck_assert_int_eq(execute(p, cfg), NX_EXIT_OK);
    const char *want[] = { "r1", "r2", "r3", "c1", "c2", "c3" };
    ck_assert_uint_eq(nevents, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_str_eq(events[i], want[i]);
    /* The journal is archived under the update id and ends in success. */
    char *path = nx_xasprintf("%s/state/journal/test-update.jnl", state_dir);
    json_t *recs;
    int torn;
    nx_err e;
    ck_assert_msg(nx_journal_read(path, &recs, &torn, &e) == 0, "%s", e.msg);
    json_t *last = json_array_get(recs, json_array_size(recs) - 1);
    ck_assert_str_eq(json_string_value(json_object_get(last, "ev")), "end");
    ck_assert_str_eq(json_string_value(json_object_get(last, "outcome")), "success");
    json_decref(recs);
    free(path);
    free_pipeline(p);
    nx_config_free(cfg);
    teardown();
}
END_TEST

/* A failure within precheck steps changed nothing: exit 1, not 3. */
START_TEST(precheck_failure_exits_1)
{
    setup();
    fail_run_at = 1;
    nx_config *cfg = make_config();
    nx_pipeline *p = make_pipeline(3, 2);
    ck_assert_int_eq(execute(p, cfg), NX_EXIT_FAILED);
    free_pipeline(p);
    nx_config_free(cfg);
    teardown();
}
END_TEST

/* A dry run runs the leading prechecks, plans the rest (a plan may set
 * shared state), then undoes what ran; nothing is committed. */
START_TEST(dry_run_runs_leading_prechecks)
{
    setup();
    nx_config *cfg = make_config();
    /* s1 s2 prechecks, s3 s4 change the site */
    nx_pipeline *p = make_pipeline(4, 2);
    char outcome[32];
    ck_assert_int_eq(dry_run(p, cfg, outcome, sizeof outcome), NX_EXIT_OK);
    ck_assert_str_eq(outcome, "planned");
    const char *want[] = { "r1", "r2", "p3", "p4", "u2", "u1" };
    ck_assert_uint_eq(nevents, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_str_eq(events[i], want[i]);
    free_pipeline(p);
    nx_config_free(cfg);
    teardown();
    /* a failing plan: refused (exit 1), what ran is still undone */
    setup();
    fail_plan_at = 2;
    cfg = make_config();
    p = make_pipeline(4, 2);
    ck_assert_int_eq(dry_run(p, cfg, outcome, sizeof outcome), NX_EXIT_FAILED);
    ck_assert_str_eq(outcome, "refused");
    const char *want2[] = { "r1", "r2", "p3", "u2", "u1" };
    ck_assert_uint_eq(nevents, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_str_eq(events[i], want2[i]);
    free_pipeline(p);
    nx_config_free(cfg);
    teardown();
    /* a precheck after a step that changes the site is only planned */
    setup();
    cfg = make_config();
    p = make_pipeline(3, 0);
    mods[0].step = &check_step;
    mods[2].step = &check_step;
    ck_assert_int_eq(dry_run(p, cfg, outcome, sizeof outcome), NX_EXIT_OK);
    const char *want3[] = { "r1", "p2", "p3", "u1" };
    ck_assert_uint_eq(nevents, 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(events[i], want3[i]);
    free_pipeline(p);
    nx_config_free(cfg);
    teardown();
}
END_TEST

/* An undo that fails stops the unwinding (exit 4), leaves the journal
 * open, and resume finishes it once the cause is gone. */
START_TEST(undo_failure_then_resume)
{
    setup();
    fail_run_at = 3;
    fail_undo_at = 2;
    nx_config *cfg = make_config();
    nx_pipeline *p = make_pipeline(4, 0);
    ck_assert_int_eq(execute(p, cfg), NX_EXIT_ROLLBACK_FAILED);
    const char *want[] = { "r1", "r2", "r3", "r4", "u4", "u3" };
    ck_assert_uint_eq(nevents, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_str_eq(events[i], want[i]);
    const char *state = nx_config_get(cfg, "paths", "state");
    char *cur = nx_journal_current(state);
    ck_assert_int_eq(access(cur, F_OK), 0);

    /* A fresh run object, as recover builds it, from the journal alone. */
    nevents = 0;
    fail_undo_at = -1;
    nx_err e;
    json_t *recs = NULL;
    nx_run r;
    nx_run_init(&r, &quiet, cfg, p, NULL, NULL);
    r.recovering = 1;
    r.j = nx_journal_reopen(state, &recs, &e);
    ck_assert_msg(r.j != NULL, "%s", e.msg);
    /* journaled state is visible again */
    ck_assert_int_eq(nx_engine_resume(&r, recs), NX_EXIT_OK);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.states, 0), "ran")),
                     "yes");
    const char *want2[] = { "u3", "u2", "u1" };
    ck_assert_uint_eq(nevents, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(events[i], want2[i]);
    ck_assert_int_ne(access(cur, F_OK), 0);
    nx_journal_close(r.j);
    r.j = NULL;
    nx_run_free(&r);
    json_decref(recs);
    free(cur);
    free_pipeline(p);
    nx_config_free(cfg);
    teardown();
}
END_TEST

/* A torn last line is ignored and cut off; a corrupt middle line is an
 * error with its line number. */
START_TEST(journal_torn_and_corrupt)
{
    setup();
    char *dir = nx_xasprintf("%s/journal", state_dir);
    nx_err e;
    ck_assert_int_eq(nx_mkdirs(dir, 0700, &e), 0);
    char *cur = nx_journal_current(state_dir);
    FILE *f = fopen(cur, "w");
    fputs("{\"seq\":1,\"ev\":\"begin\",\"id\":\"x\"}\n{\"seq\":2,\"ev\":\"step-start\",\"st", f);
    fclose(f);
    json_t *recs = NULL;
    int torn = 0;
    ck_assert_int_eq(nx_journal_read(cur, &recs, &torn, &e), 0);
    ck_assert_int_eq(torn, 1);
    ck_assert_uint_eq(json_array_size(recs), 1);
    json_decref(recs);
    nx_journal *j = nx_journal_reopen(state_dir, &recs, &e);
    ck_assert_msg(j != NULL, "%s", e.msg);
    ck_assert_int_eq(nx_journal_append(j, "recover", NULL, &e), 0);
    nx_journal_close(j);
    json_decref(recs);
    ck_assert_int_eq(nx_journal_read(cur, &recs, &torn, &e), 0);
    ck_assert_int_eq(torn, 0);
    ck_assert_uint_eq(json_array_size(recs), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(recs, 1), "seq")), 2);
    json_decref(recs);

    f = fopen(cur, "w");
    fputs("{\"seq\":1,\"ev\":\"begin\",\"id\":\"x\"}\ngarbage\n{\"seq\":3,\"ev\":\"end\"}\n", f);
    fclose(f);
    ck_assert_int_eq(nx_journal_read(cur, &recs, &torn, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "current.jnl:2: corrupt journal record"));
    free(cur);
    free(dir);
    teardown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, unwind_every_k);
    tcase_add_test(tc, success_commits_in_order);
    tcase_add_test(tc, precheck_failure_exits_1);
    tcase_add_test(tc, dry_run_runs_leading_prechecks);
    tcase_add_test(tc, undo_failure_then_resume);
    tcase_add_test(tc, journal_torn_and_corrupt);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
