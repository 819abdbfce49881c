/* Unit tests for core/fault.c (NEXO_FAULT, contracts §8) (Check). */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "util.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static nx_faults *parse_ok(const char *spec)
{
    nx_err e = {{0}};
    nx_faults *f = nx_faults_parse(spec, &e);
    ck_assert_msg(f != NULL, "'%s' refused: %s", spec ? spec : "(null)", e.msg);
    return f;
}

static void expect_hits(nx_faults *f, const char *step, enum nx_point p, unsigned n,
                        const enum nx_action *want, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        enum nx_action got = nx_fault_hit(f, step, p, n);
        ck_assert_msg(got == want[i], "%s:%s:%u, hit %zu: expected %d, got %d", step,
                      nx_point_name(p), n, i + 1, (int)want[i], (int)got);
    }
}

/* Run `spec`'s hits in a child: every (step, point, n) in order; the child
 * must die of SIGKILL at the last one and say so on stderr. */
struct hit {
    const char *step;
    enum nx_point point;
    unsigned n;
};

static void expect_killed(const char *spec, const struct hit *hits, size_t count,
                          const char *note)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        if (dup2(pfd[1], 2) < 0)
            _exit(20);
        nx_err e = {{0}};
        nx_faults *f = nx_faults_parse(spec, &e);
        if (!f)
            _exit(21);
        for (size_t i = 0; i < count; i++) {
            enum nx_action a = nx_fault_hit(f, hits[i].step, hits[i].point, hits[i].n);
            if (a != NX_NONE)
                _exit(22); /* an earlier hit fired */
        }
        _exit(23); /* not killed */
    }
    close(pfd[1]);
    char buf[1024];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(pfd[0], buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof buf - 1)
            break;
    }
    buf[len] = '\0';
    close(pfd[0]);
    int status = 0;
    pid_t w;
    do
        w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    ck_assert_int_eq(w, pid);
    ck_assert_msg(WIFSIGNALED(status), "%s: child not killed (exit %d), stderr: %s", spec,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, buf);
    ck_assert_int_eq(WTERMSIG(status), SIGKILL);
    ck_assert_msg(strstr(buf, note) != NULL, "stderr '%s' lacks '%s'", buf, note);
}

/* ---- parsing: valid ---------------------------------------------------- */

START_TEST(test_parse_empty)
{
    nx_faults *f = parse_ok(NULL);
    ck_assert_int_eq(nx_fault_hit(f, "s", NX_BEFORE_RUN, 0), NX_NONE);
    nx_faults_free(f);
    f = parse_ok("");
    ck_assert_int_eq(nx_fault_hit(f, "s", NX_CHECKPOINT, 1), NX_NONE);
    nx_faults_free(f);
    /* No set at all: nothing happens. */
    ck_assert_int_eq(nx_fault_hit(NULL, "s", NX_AFTER_RUN, 0), NX_NONE);
    nx_faults_free(NULL);
}
END_TEST

START_TEST(test_parse_valid_forms)
{
    static const char *const valid[] = {
        "migrate:checkpoint:2:kill",
        "replace:after-run:fail,migrate:before-undo:kill",
        "s:before-run:fail",
        "s:before-undo:2:fail",
        "s:after-undo:fail",
        "s:after-undo:1:kill",
        "hooks-before.x_1:checkpoint:1000000:fail",
        "a:before-run:fail,b:after-run:fail,c:checkpoint:3:kill,d:after-undo:2:fail",
    };
    for (size_t i = 0; i < N_ELEMS(valid); i++)
        nx_faults_free(parse_ok(valid[i]));
}
END_TEST

START_TEST(test_point_names)
{
    ck_assert_str_eq(nx_point_name(NX_BEFORE_RUN), "before-run");
    ck_assert_str_eq(nx_point_name(NX_AFTER_RUN), "after-run");
    ck_assert_str_eq(nx_point_name(NX_BEFORE_UNDO), "before-undo");
    ck_assert_str_eq(nx_point_name(NX_AFTER_UNDO), "after-undo");
    ck_assert_str_eq(nx_point_name(NX_CHECKPOINT), "checkpoint");
}
END_TEST

/* ---- parsing: invalid -------------------------------------------------- */

START_TEST(test_parse_invalid)
{
    static const char *const bad[][2] = {
        { "s:nowhere:fail", "unknown point 'nowhere'" },
        { "s:Before-Run:fail", "unknown point 'Before-Run'" },
        { "s:checkpoint2:fail", "unknown point 'checkpoint2'" },
        { "s:before-run:explode", "unknown action 'explode'" },
        { "s:before-run:FAIL", "unknown action 'FAIL'" },
        { "s:before-run:", "unknown action ''" },
        { "s:checkpoint:2:", "unknown action ''" },
        { "migrate:checkpoint:kill", "checkpoint needs its number" },
        { "migrate:checkpoint:0:kill", "'0' is not a count" },
        { "migrate:checkpoint:-1:kill", "'-1' is not a count" },
        { "migrate:checkpoint:+1:kill", "'+1' is not a count" },
        { "migrate:checkpoint:x:kill", "'x' is not a count" },
        { "migrate:checkpoint:2x:kill", "'2x' is not a count" },
        { "migrate:checkpoint::kill", "'' is not a count" },
        { "migrate:checkpoint:1000001:kill", "'1000001' is not a count" },
        { "migrate:checkpoint:99999999999999999999:kill", "is not a count" },
        { "s:before-undo:0:fail", "'0' is not a count" },
        { "junk", "expected <step>:<point>[:<n>]:<action>" },
        { "s:fail", "expected <step>:<point>" },
        { ":before-run:fail", "expected <step>:<point>" },
        { "a:b:c:d:e", "expected <step>:<point>" },
        { "s:before-run:1:2:fail", "expected <step>:<point>" },
        { "s:checkpoint:1:2:3:fail", "expected <step>:<point>" },
    };
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        nx_err e = {{0}};
        nx_faults *f = nx_faults_parse(bad[i][0], &e);
        if (f)
            nx_faults_free(f);
        ck_assert_msg(f == NULL, "'%s' accepted", bad[i][0]);
        char *head = nx_xasprintf("NEXO_FAULT: '%s': ", bad[i][0]);
        ck_assert_msg(strncmp(e.msg, head, strlen(head)) == 0, "'%s' does not start with '%s'",
                      e.msg, head);
        free(head);
        ck_assert_msg(strstr(e.msg, bad[i][1]) != NULL, "'%s': '%s' lacks '%s'", bad[i][0],
                      e.msg, bad[i][1]);
    }
}
END_TEST

START_TEST(test_parse_invalid_in_list)
{
    /* The bad item of a list is named, not the whole list. */
    nx_err e = {{0}};
    nx_faults *f = nx_faults_parse("a:before-run:fail,b:somewhere:kill,c:after-run:fail", &e);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(e.msg, "NEXO_FAULT: 'b:somewhere:kill': ") != NULL, "'%s'", e.msg);
    ck_assert_msg(strstr(e.msg, "unknown point 'somewhere'") != NULL, "'%s'", e.msg);
    ck_assert_msg(strstr(e.msg, "a:before-run") == NULL, "'%s'", e.msg);
}
END_TEST

/* ---- hits -------------------------------------------------------------- */

START_TEST(test_hit_before_run_first_time_only)
{
    nx_faults *f = parse_ok("s:before-run:fail");
    /* Other steps and points are untouched, and do not count. */
    ck_assert_int_eq(nx_fault_hit(f, "t", NX_BEFORE_RUN, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "S", NX_BEFORE_RUN, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "s2", NX_BEFORE_RUN, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "s", NX_AFTER_RUN, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "s", NX_BEFORE_UNDO, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "s", NX_CHECKPOINT, 1), NX_NONE);
    static const enum nx_action want[] = { NX_FAIL, NX_NONE, NX_NONE };
    expect_hits(f, "s", NX_BEFORE_RUN, 0, want, N_ELEMS(want));
    nx_faults_free(f);
}
END_TEST

START_TEST(test_hit_occurrence)
{
    nx_faults *f = parse_ok("s:before-undo:2:fail");
    ck_assert_int_eq(nx_fault_hit(f, "s", NX_BEFORE_RUN, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "s", NX_AFTER_UNDO, 0), NX_NONE);
    static const enum nx_action want[] = { NX_NONE, NX_FAIL, NX_NONE, NX_NONE };
    expect_hits(f, "s", NX_BEFORE_UNDO, 0, want, N_ELEMS(want));
    nx_faults_free(f);

    /* An explicit 1 is the default. */
    f = parse_ok("s:after-undo:1:fail");
    static const enum nx_action want1[] = { NX_FAIL, NX_NONE };
    expect_hits(f, "s", NX_AFTER_UNDO, 0, want1, N_ELEMS(want1));
    nx_faults_free(f);
}
END_TEST

START_TEST(test_hit_checkpoint)
{
    nx_faults *f = parse_ok("migrate:checkpoint:3:fail");
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_CHECKPOINT, 1), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_CHECKPOINT, 2), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "other", NX_CHECKPOINT, 3), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_AFTER_RUN, 3), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_CHECKPOINT, 3), NX_FAIL);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_CHECKPOINT, 4), NX_NONE);
    nx_faults_free(f);
}
END_TEST

START_TEST(test_hit_list)
{
    nx_faults *f = parse_ok("replace:after-run:fail,migrate:before-undo:2:fail,"
                            "migrate:checkpoint:1:fail");
    ck_assert_int_eq(nx_fault_hit(f, "replace", NX_BEFORE_RUN, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_AFTER_RUN, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_CHECKPOINT, 1), NX_FAIL);
    ck_assert_int_eq(nx_fault_hit(f, "replace", NX_AFTER_RUN, 0), NX_FAIL);
    ck_assert_int_eq(nx_fault_hit(f, "replace", NX_AFTER_RUN, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_BEFORE_UNDO, 0), NX_NONE);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_BEFORE_UNDO, 0), NX_FAIL);
    ck_assert_int_eq(nx_fault_hit(f, "migrate", NX_BEFORE_UNDO, 0), NX_NONE);
    nx_faults_free(f);
}
END_TEST

START_TEST(test_hit_sets_are_independent)
{
    nx_faults *a = parse_ok("s:before-run:fail");
    nx_faults *b = parse_ok("s:before-run:fail");
    ck_assert_int_eq(nx_fault_hit(a, "s", NX_BEFORE_RUN, 0), NX_FAIL);
    ck_assert_int_eq(nx_fault_hit(b, "s", NX_BEFORE_RUN, 0), NX_FAIL);
    nx_faults_free(a);
    nx_faults_free(b);
}
END_TEST

/* ---- kill, in a child ------------------------------------------------- */

START_TEST(test_kill_checkpoint)
{
    static const struct hit hits[] = {
        { "migrate", NX_BEFORE_RUN, 0 },
        { "migrate", NX_CHECKPOINT, 1 },
        { "migrate", NX_CHECKPOINT, 2 },
    };
    expect_killed("migrate:checkpoint:2:kill", hits, N_ELEMS(hits),
                  "NEXO_FAULT: kill at migrate:checkpoint:2");
}
END_TEST

START_TEST(test_kill_before_undo_in_list)
{
    static const struct hit hits[] = {
        { "migrate", NX_BEFORE_RUN, 0 },
        { "migrate", NX_AFTER_RUN, 0 },
        { "replace", NX_BEFORE_RUN, 0 },
        { "migrate", NX_BEFORE_UNDO, 0 },
    };
    /* replace:after-run is never reached here, so only the kill fires. */
    expect_killed("replace:after-run:fail,migrate:before-undo:kill", hits, N_ELEMS(hits),
                  "NEXO_FAULT: kill at migrate:before-undo:1");
}
END_TEST

START_TEST(test_kill_second_occurrence)
{
    static const struct hit hits[] = {
        { "s", NX_AFTER_UNDO, 0 },
        { "s", NX_AFTER_UNDO, 0 },
    };
    expect_killed("s:after-undo:2:kill", hits, N_ELEMS(hits),
                  "NEXO_FAULT: kill at s:after-undo:2");
}
END_TEST

/* ---- regressions: bugs these tests found and that were fixed ---------- */

START_TEST(regress_two_faults_same_point)
{
    /* "the n-th time the point is reached in this process": each fault
     * counts its own occurrences only while the scan reaches it, so the
     * first fault firing hides the 1st occurrence from the second. */
    nx_faults *f = parse_ok("s:before-run:fail,s:before-run:2:fail");
    static const enum nx_action want[] = { NX_FAIL, NX_FAIL, NX_NONE };
    expect_hits(f, "s", NX_BEFORE_RUN, 0, want, N_ELEMS(want));
    nx_faults_free(f);
}
END_TEST

static Suite *fault_suite(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_empty);
    tcase_add_test(tc, test_parse_valid_forms);
    tcase_add_test(tc, test_point_names);
    tcase_add_test(tc, test_parse_invalid);
    tcase_add_test(tc, test_parse_invalid_in_list);
    suite_add_tcase(s, tc);

    tc = tcase_create("hit");
    tcase_add_test(tc, test_hit_before_run_first_time_only);
    tcase_add_test(tc, test_hit_occurrence);
    tcase_add_test(tc, test_hit_checkpoint);
    tcase_add_test(tc, test_hit_list);
    tcase_add_test(tc, test_hit_sets_are_independent);
    suite_add_tcase(s, tc);

    tc = tcase_create("kill");
    tcase_add_test(tc, test_kill_checkpoint);
    tcase_add_test(tc, test_kill_before_undo_in_list);
    tcase_add_test(tc, test_kill_second_occurrence);
    suite_add_tcase(s, tc);

    {
        tc = tcase_create("regressions");
        tcase_add_test(tc, regress_two_faults_same_point);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fault_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
