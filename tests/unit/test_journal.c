/* The journal's creation (atomic: current.jnl appears only with its
 * begin record) and the journals without a begin record that recover
 * closes (core/journal.c). */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "testutil.h"

static char *state;   /* tu_dir/state */
static char *jdir;    /* its journal folder */
static char *cur;     /* its current.jnl */

static void setup(void)
{
    tu_tmp_setup();
    state = nx_path_join(tu_dir, "state");
    jdir = nx_journal_dir(state);
    cur = nx_journal_current(state);
}

static void teardown(void)
{
    free(state);
    free(jdir);
    free(cur);
    tu_tmp_teardown();
}

static json_t *begin_rec(const char *id)
{
    return json_pack("{s:s, s:{s:s}}", "id", id, "info", "component", "core");
}

static void write_curn(const char *text, size_t len)
{
    nx_err e;
    ck_assert_msg(nx_mkdirs(jdir, 0700, &e) == 0, "%s", e.msg);
    FILE *f = fopen(cur, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_cur(const char *text)
{
    write_curn(text, strlen(text));
}

/* Names in the journal folder that start with prefix. */
static int names_with(const char *prefix)
{
    DIR *d = opendir(jdir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static char *slurp(const char *path)
{
    nx_err e;
    char *buf = NULL;
    size_t len;
    ck_assert_msg(nx_read_file(path, &buf, &len, 0, &e) == 0, "%s", e.msg);
    return buf;
}

START_TEST(create_appears_with_its_begin_record)
{
    nx_err e;
    nx_journal *j = nx_journal_create(state, begin_rec("u1"), &e);
    ck_assert_msg(j != NULL, "%s", e.msg);
    ck_assert_str_eq(nx_journal_path(j), cur);
    json_t *recs = NULL;
    int torn = 1;
    ck_assert_msg(nx_journal_read(cur, &recs, &torn, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(torn, 0);
    ck_assert_uint_eq(json_array_size(recs), 1);
    json_t *b = json_array_get(recs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(b, "ev")), "begin");
    ck_assert_str_eq(json_string_value(json_object_get(b, "id")), "u1");
    ck_assert_int_eq(json_integer_value(json_object_get(b, "seq")), 1);
    json_decref(recs);
    struct stat st;
    ck_assert_int_eq(stat(cur, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq((int)st.st_nlink, 1);
    ck_assert_int_eq(stat(jdir, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    ck_assert_int_eq(names_with("current.jnl.new-"), 0);
    /* appends go to the file now named current.jnl */
    ck_assert_msg(nx_journal_append(j, "step-start", json_pack("{s:i}", "step", 0), &e) == 0,
                  "%s", e.msg);
    ck_assert_msg(nx_journal_end(j, "success", NULL, &e) == 0, "%s", e.msg);
    nx_journal_close(j);
    char *arch = nx_path_join(jdir, "u1.jnl");
    ck_assert_msg(nx_journal_read(arch, &recs, &torn, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(json_array_size(recs), 3);
    json_decref(recs);
    ck_assert_int_ne(access(cur, F_OK), 0);
    free(arch);
}
END_TEST

START_TEST(create_never_replaces_a_journal)
{
    nx_err e;
    /* a live journal, and one without a begin record (an older version's) */
    const char *texts[] = { NULL, "" };
    for (size_t k = 0; k < 2; k++) {
        nx_journal *first = NULL;
        if (texts[k])
            write_cur(texts[k]);
        else
            ck_assert_ptr_nonnull(first = nx_journal_create(state, begin_rec("u1"), &e));
        char *before = slurp(cur);
        nx_journal *j = nx_journal_create(state, begin_rec("u2"), &e);
        ck_assert_ptr_null(j);
        ck_assert_msg(strstr(e.msg, "current.jnl: an interrupted update is waiting: run "
                                    "'nexo-update recover' first") != NULL, "%s", e.msg);
        char *after = slurp(cur);
        ck_assert_str_eq(before, after);
        ck_assert_int_eq(names_with("current.jnl.new-"), 0);
        free(before);
        free(after);
        nx_journal_close(first);
        ck_assert_int_eq(unlink(cur), 0);
    }
}
END_TEST

START_TEST(create_removes_leftovers_of_a_killed_creation)
{
    nx_err e;
    ck_assert_msg(nx_mkdirs(jdir, 0700, &e) == 0, "%s", e.msg);
    char *a = nx_path_join(jdir, "current.jnl.new-1");
    char *b = nx_path_join(jdir, "current.jnl.new-99999");
    char *other = nx_path_join(jdir, "20260101-000000-deadbeef.jnl");
    FILE *f = fopen(a, "w");
    fputs("{\"seq\":1,\"t\":1,\"ev\":\"beg", f);
    fclose(f);
    fclose(fopen(b, "w"));
    fclose(fopen(other, "w"));
    nx_journal *j = nx_journal_create(state, begin_rec("u1"), &e);
    ck_assert_msg(j != NULL, "%s", e.msg);
    ck_assert_int_eq(names_with("current.jnl.new-"), 0);
    ck_assert_int_eq(access(other, F_OK), 0); /* an archived journal stays */
    nx_journal_close(j);
    free(a);
    free(b);
    free(other);
}
END_TEST

START_TEST(unstarted_only_without_an_intact_record)
{
    nx_err e;
    struct {
        const char *text;
        int want;
        size_t len; /* 0: strlen */
    } cases[] = {
        { "", 1, 0 },
        { "{\"seq\":1,\"t\":1795596344847,\"ev\":\"begin\",\"id\":\"2026", 1, 0 },
        /* the whole begin record but not its newline: its write never returned */
        { "{\"seq\":1,\"t\":1,\"ev\":\"begin\",\"id\":\"x\"}", 1, 0 },
        /* what a power loss can leave of a write: zeros */
        { "\0\0\0\0", 1, 4 },
        /* a begin record, then a torn one: recovered as usual */
        { "{\"seq\":1,\"t\":1,\"ev\":\"begin\",\"id\":\"x\"}\n{\"seq\":2,\"ev\":\"st", 0, 0 },
        /* a whole record that is not begin: corrupt, not closed */
        { "{\"seq\":2,\"t\":1,\"ev\":\"step-start\",\"step\":0}\n", 0, 0 },
        /* garbage followed by more lines: corrupt */
        { "garbage\n{\"seq\":2,\"t\":1,\"ev\":\"end\"}\n", 0, 0 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_curn(cases[k].text, cases[k].len ? cases[k].len : strlen(cases[k].text));
        ck_assert_msg(nx_journal_unstarted(cur, &e) == cases[k].want, "case %zu", k);
    }
    ck_assert_int_eq(unlink(cur), 0);
    ck_assert_int_eq(nx_journal_unstarted(cur, &e), -1);
    ck_assert_msg(strstr(e.msg, "current.jnl") != NULL, "%s", e.msg);
}
END_TEST

START_TEST(close_unstarted_moves_it_aside)
{
    nx_err e;
    const char *torn = "{\"seq\":1,\"t\":1795596344847,\"ev\":\"be";
    write_cur(torn);
    char *moved = nx_journal_close_unstarted(state, &e);
    ck_assert_msg(moved != NULL, "%s", e.msg);
    ck_assert_int_ne(access(cur, F_OK), 0);
    ck_assert_msg(strncmp(moved, jdir, strlen(jdir)) == 0 &&
                      strncmp(nx_basename(moved), "unstarted-", 10) == 0 &&
                      strcmp(moved + strlen(moved) - 4, ".jnl") == 0,
                  "%s", moved);
    char *text = slurp(moved);
    ck_assert_str_eq(text, torn);
    free(text);
    /* a second one (same second) never replaces the first */
    write_cur("");
    char *moved2 = nx_journal_close_unstarted(state, &e);
    ck_assert_msg(moved2 != NULL, "%s", e.msg);
    ck_assert_str_ne(moved, moved2);
    text = slurp(moved);
    ck_assert_str_eq(text, torn);
    free(text);
    ck_assert_int_eq(names_with("unstarted-"), 2);
    /* the next journal can be created, and is never closed as unstarted */
    nx_journal *j = nx_journal_create(state, begin_rec("u3"), &e);
    ck_assert_msg(j != NULL, "%s", e.msg);
    nx_journal_close(j);
    ck_assert_ptr_null(nx_journal_close_unstarted(state, &e));
    ck_assert_msg(strstr(e.msg, "current.jnl: it has records: not closed") != NULL, "%s", e.msg);
    ck_assert_int_eq(access(cur, F_OK), 0);
    ck_assert_int_eq(names_with("unstarted-"), 2);
    free(moved);
    free(moved2);
}
END_TEST

/* SIGKILL at a random instant of nx_journal_create (within about twice
 * the time it takes here), many times: current.jnl is never there without
 * its whole begin record, and the next creation works. */
START_TEST(kill_during_create_never_leaves_a_journal_without_begin)
{
    nx_err e;
    ck_assert_msg(nx_mkdirs(jdir, 0700, &e) == 0, "%s", e.msg);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < 5; k++) {
        nx_journal *j = nx_journal_create(state, begin_rec("warm"), &e);
        ck_assert_msg(j != NULL, "%s", e.msg);
        nx_journal_close(j);
        unlink(cur);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = ((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000) / 5;
    long span = 2 * us + 200; /* the fork itself takes some time too */
    int absent = 0, present = 0;
    srand((unsigned)getpid());
    for (int k = 0; k < 150; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            nx_err ce;
            nx_journal *j = nx_journal_create(state, begin_rec("killed"), &ce);
            (void)j;
            pause();
            _exit(0);
        }
        usleep((useconds_t)(rand() % span));
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        if (access(cur, F_OK) != 0) {
            absent++;
            continue;
        }
        present++;
        json_t *recs = NULL;
        int torn = 0;
        ck_assert_msg(nx_journal_read(cur, &recs, &torn, &e) == 0, "kill %d: %s", k, e.msg);
        ck_assert_int_eq(torn, 0);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(recs, 0), "id")),
                         "killed");
        json_decref(recs);
        ck_assert_int_eq(nx_journal_unstarted(cur, &e), 0);
        ck_assert_int_eq(unlink(cur), 0);
    }
    fprintf(stderr, "# create takes %ld us; killed 150 times within %ld us: %d before "
                    "current.jnl appeared, %d after\n", us, span, absent, present);
    nx_journal *j = nx_journal_create(state, begin_rec("next"), &e);
    ck_assert_msg(j != NULL, "%s", e.msg);
    ck_assert_int_eq(names_with("current.jnl.new-"), 0);
    nx_journal_close(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("journal");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_appears_with_its_begin_record);
    tcase_add_test(tc, create_never_replaces_a_journal);
    tcase_add_test(tc, create_removes_leftovers_of_a_killed_creation);
    tcase_add_test(tc, unstarted_only_without_an_intact_record);
    tcase_add_test(tc, close_unstarted_moves_it_aside);
    tcase_add_test(tc, kill_during_create_never_leaves_a_journal_without_begin);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
