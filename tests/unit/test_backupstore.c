/* Unit tests for core/backupstore.c (Check): listing, lookup and the
 * retention decision shared by the backup step and `backups prune`. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backupstore.h"
#include "testutil.h"

#define DAY 86400LL

static char *store(void)
{
    return nx_path_join(tu_dir, "backups");
}

static void write_at(const char *dir, const char *name, const char *text)
{
    char *p = nx_path_join(dir, name);
    nx_err e = {{0}};
    ck_assert_msg(nx_write_file_atomic(p, text, strlen(text), 0600, &e) == 0, "%s", e.msg);
    free(p);
}

/* A backup folder; meta NULL: none; "" : an unreadable one. */
static char *mk(const char *name, const char *meta)
{
    char *dir = store();
    nx_err e = {{0}};
    ck_assert_msg(nx_mkdirs(dir, 0700, &e) == 0, "%s", e.msg);
    char *p = nx_path_join(dir, name);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    if (meta)
        write_at(p, "meta.json", *meta ? meta : "{ not json");
    free(dir);
    return p;
}

/* A backup with a full meta.json created at epoch t. */
static char *mk_at(const char *id, long long t)
{
    char created[32], stamp[32], name[128], meta[512];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name, sizeof name, "backup_%s_%s", id, stamp);
    snprintf(meta, sizeof meta,
             "{\"update_id\": \"%s\", \"created_at\": \"%s\", \"component\": \"core\", "
             "\"from_version\": \"1.0.0\", \"to_version\": \"1.1.0\", \"pipeline\": \"core\", "
             "\"database\": null, \"files\": {\"file\": \"files.tar.zst\", \"size\": 3, "
             "\"sha256\": \"x\", \"entries\": 1}}",
             id, created);
    return mk(name, meta);
}

static nx_backup_list list_ok(void)
{
    nx_backup_list l;
    nx_err e = {{0}};
    char *dir = store();
    ck_assert_msg(nx_backups_list(dir, &l, &e) == 0, "%s", e.msg);
    free(dir);
    return l;
}

/* ---- list ------------------------------------------------------------------ */

START_TEST(list_missing_dir_is_empty)
{
    nx_backup_list l = list_ok();
    ck_assert_uint_eq(l.n, 0);
    ck_assert_ptr_null(l.v);
    nx_backups_free(&l);
}
END_TEST

START_TEST(list_not_a_folder_is_an_error)
{
    char *dir = store();
    write_at(tu_dir, "backups", "a file");
    nx_backup_list l;
    nx_err e = {{0}};
    ck_assert_int_eq(nx_backups_list(dir, &l, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, dir));
    ck_assert_uint_eq(l.n, 0);
    free(dir);
}
END_TEST

START_TEST(list_fields_and_size)
{
    char *p = mk_at("20261125-080000-aaaaaaaa", 1795600000);
    write_at(p, "files.tar.zst", "abc");
    write_at(p, "database.dump", "0123456789");
    char *sub = nx_path_join(p, "sub");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    write_at(sub, "x", "12345");
    struct stat st;
    char *meta = nx_path_join(p, "meta.json");
    ck_assert_int_eq(stat(meta, &st), 0);

    nx_backup_list l = list_ok();
    ck_assert_uint_eq(l.n, 1);
    const nx_backup *b = &l.v[0];
    ck_assert_str_eq(b->path, p);
    ck_assert_str_eq(b->name, nx_basename(p));
    ck_assert_str_eq(b->update_id, "20261125-080000-aaaaaaaa");
    ck_assert_str_eq(b->component, "core");
    ck_assert_str_eq(b->from_version, "1.0.0");
    ck_assert_str_eq(b->to_version, "1.1.0");
    ck_assert_str_eq(b->pipeline, "core");
    ck_assert_int_eq(b->created, 1795600000);
    ck_assert_uint_eq(b->size, 3 + 10 + 5 + (uint64_t)st.st_size);
    ck_assert_ptr_nonnull(b->meta);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(b->meta, "files"),
                                                        "entries")), 1);
    nx_backups_free(&l);
    ck_assert_uint_eq(l.n, 0);
    free(meta);
    free(sub);
    free(p);
}
END_TEST

START_TEST(list_newest_first_and_skips)
{
    free(mk_at("b-old", 1700000000));
    free(mk_at("b-new", 1800000000));
    free(mk_at("b-mid", 1750000000));
    free(mk("backup_nometa_20260101T000000Z", NULL));
    free(mk("backup_badmeta_20260101T000000Z", ""));
    free(mk("backup_x_20260101T000000Z.partial", "{}"));
    free(mk("other_folder", "{}"));
    char *dir = store();
    write_at(dir, "backup_file", "not a folder");
    char *target = nx_path_join(dir, "other_folder");
    char *link = nx_path_join(dir, "backup_link");
    ck_assert_int_eq(symlink(target, link), 0);

    nx_backup_list l = list_ok();
    ck_assert_uint_eq(l.n, 5);
    ck_assert_str_eq(l.v[0].update_id, "b-new");
    ck_assert_str_eq(l.v[1].update_id, "b-mid");
    ck_assert_str_eq(l.v[2].update_id, "b-old");
    /* unreadable meta.json: listed last, all fields NULL */
    for (size_t i = 3; i < 5; i++) {
        ck_assert_ptr_null(l.v[i].meta);
        ck_assert_ptr_null(l.v[i].update_id);
        ck_assert_ptr_null(l.v[i].created_at);
        ck_assert_int_eq(l.v[i].created, 0);
    }
    nx_backups_free(&l);
    free(target);
    free(link);
    free(dir);
}
END_TEST

START_TEST(list_same_second_by_mtime)
{
    char *a = mk_at("same-a", 1795600000);
    char *b = mk_at("same-b", 1795600000);
    /* b (later name) made first: older mtime */
    struct timespec older[2] = { { 1000, 0 }, { 1000, 0 } };
    struct timespec newer[2] = { { 2000, 0 }, { 2000, 0 } };
    ck_assert_int_eq(utimensat(AT_FDCWD, b, older, 0), 0);
    ck_assert_int_eq(utimensat(AT_FDCWD, a, newer, 0), 0);
    nx_backup_list l = list_ok();
    ck_assert_uint_eq(l.n, 2);
    ck_assert_str_eq(l.v[0].update_id, "same-a");
    ck_assert_str_eq(l.v[1].update_id, "same-b");
    nx_backups_free(&l);
    free(a);
    free(b);
}
END_TEST

START_TEST(meta_with_missing_fields)
{
    free(mk("backup_partial-meta_20260101T000000Z",
            "{\"update_id\": \"pm\", \"created_at\": \"yesterday\", \"component\": 7}"));
    nx_backup_list l = list_ok();
    ck_assert_uint_eq(l.n, 1);
    ck_assert_ptr_nonnull(l.v[0].meta);
    ck_assert_str_eq(l.v[0].update_id, "pm");
    ck_assert_str_eq(l.v[0].created_at, "yesterday");
    ck_assert_int_eq(l.v[0].created, 0);
    ck_assert_ptr_null(l.v[0].component);
    ck_assert_ptr_null(l.v[0].pipeline);
    nx_backups_free(&l);
}
END_TEST

/* ---- find ------------------------------------------------------------------ */

START_TEST(find_by_id_name_path)
{
    char *p = mk_at("20261125-080000-aaaaaaaa", 1795600000);
    free(mk_at("20261125-090000-bbbbbbbb", 1795603600));
    nx_backup_list l = list_ok();
    const nx_backup *b = nx_backups_find(&l, "20261125-080000-aaaaaaaa");
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(b->path, p);
    ck_assert_ptr_eq(nx_backups_find(&l, nx_basename(p)), b);
    ck_assert_ptr_eq(nx_backups_find(&l, p), b);
    char *slash = nx_xasprintf("%s/", p);
    ck_assert_ptr_eq(nx_backups_find(&l, slash), b);
    ck_assert_ptr_null(nx_backups_find(&l, "20261125-080000"));
    ck_assert_ptr_null(nx_backups_find(&l, "nope"));
    ck_assert_ptr_null(nx_backups_find(&l, ""));
    ck_assert_ptr_null(nx_backups_find(&l, NULL));
    ck_assert_ptr_null(nx_backups_find(NULL, "x"));
    nx_backups_free(&l);
    free(slash);
    free(p);
}
END_TEST

/* ---- retention --------------------------------------------------------------- */

static const long long NOW = 1800000000LL;

/* Five backups 0, 1, 5, 10 and 40 days old (newest first). */
static nx_backup_list five(void)
{
    free(mk_at("d40", NOW - 40 * DAY));
    free(mk_at("d10", NOW - 10 * DAY));
    free(mk_at("d5", NOW - 5 * DAY));
    free(mk_at("d1", NOW - 1 * DAY));
    free(mk_at("d0", NOW));
    return list_ok();
}

static void expect(const nx_backup_list *l, const unsigned char *rm, const char *gone)
{
    for (size_t i = 0; i < l->n; i++) {
        char word[64];
        snprintf(word, sizeof word, " %s ", l->v[i].update_id);
        char *all = nx_xasprintf(" %s ", gone);
        int want = strstr(all, word) != NULL;
        free(all);
        ck_assert_msg(rm[i] == want, "%s: remove=%d, expected %d", l->v[i].update_id, rm[i],
                      want);
    }
}

START_TEST(retention_keep_only)
{
    nx_backup_list l = five();
    unsigned char rm[5];
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 2, 0, NOW, rm), 3);
    expect(&l, rm, "d5 d10 d40");
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 1, 0, NOW, rm), 4);
    expect(&l, rm, "d1 d5 d10 d40");
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 0, 0, NOW, rm), 5);
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 9, 0, NOW, rm), 0);
    nx_backups_free(&l);
}
END_TEST

START_TEST(retention_keep_days)
{
    nx_backup_list l = five();
    unsigned char rm[5];
    /* keep 1, but what is younger than 7 days stays too */
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 1, 7, NOW, rm), 2);
    expect(&l, rm, "d10 d40");
    /* exactly keep_days old still stays */
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 0, 10, NOW, rm), 1);
    expect(&l, rm, "d40");
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 0, 30, NOW, rm), 1);
    /* the defaults: keep 5, keep_days 30 */
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 5, 30, NOW, rm), 0);
    nx_backups_free(&l);
}
END_TEST

START_TEST(retention_current_never_removed)
{
    nx_backup_list l = five();
    unsigned char rm[5];
    /* the current backup (the oldest here, by name or path) stays and
     * takes the one place */
    const char *cur = NULL;
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.v[i].update_id, "d40") == 0)
            cur = l.v[i].path;
    ck_assert_ptr_nonnull(cur);
    ck_assert_uint_eq(nx_backups_retention(&l, cur, 1, 0, NOW, rm), 4);
    expect(&l, rm, "d0 d1 d5 d10");
    ck_assert_uint_eq(nx_backups_retention(&l, nx_basename(cur), 2, 0, NOW, rm), 3);
    expect(&l, rm, "d1 d5 d10");
    /* a current backup not (yet) in the list still takes a place */
    ck_assert_uint_eq(nx_backups_retention(&l, "/elsewhere/backup_new_x", 2, 0, NOW, rm), 4);
    expect(&l, rm, "d1 d5 d10 d40");
    nx_backups_free(&l);
}
END_TEST

START_TEST(retention_skips_what_is_not_a_backup)
{
    free(mk_at("old", NOW - 100 * DAY));
    free(mk("backup_nometa_20200101T000000Z", NULL));
    free(mk("backup_badmeta_20200101T000000Z", ""));
    free(mk("backup_notime_20200101T000000Z", "{\"update_id\": \"notime\"}"));
    nx_backup_list l = list_ok();
    ck_assert_uint_eq(l.n, 4);
    unsigned char rm[4];
    ck_assert_uint_eq(nx_backups_retention(&l, NULL, 0, 0, NOW, rm), 1);
    ck_assert_str_eq(l.v[0].update_id, "old");
    ck_assert_int_eq(rm[0], 1);
    nx_backups_free(&l);
}
END_TEST

START_TEST(parse_time)
{
    ck_assert_int_eq(nx_backup_parse_time("1970-01-01T00:00:00Z"), 0);
    ck_assert_int_eq(nx_backup_parse_time("2027-01-15T08:00:00Z"), 1800000000LL);
    ck_assert_int_eq(nx_backup_parse_time("2027-01-15T08:00:00"), -1);
    ck_assert_int_eq(nx_backup_parse_time("2027-01-15T08:00:00Zx"), -1);
    ck_assert_int_eq(nx_backup_parse_time("yesterday"), -1);
    ck_assert_int_eq(nx_backup_parse_time(""), -1);
    ck_assert_int_eq(nx_backup_parse_time(NULL), -1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("backupstore");
    TCase *tc = tcase_create("list");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, list_missing_dir_is_empty);
    tcase_add_test(tc, list_not_a_folder_is_an_error);
    tcase_add_test(tc, list_fields_and_size);
    tcase_add_test(tc, list_newest_first_and_skips);
    tcase_add_test(tc, list_same_second_by_mtime);
    tcase_add_test(tc, meta_with_missing_fields);
    tcase_add_test(tc, find_by_id_name_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("retention");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, retention_keep_only);
    tcase_add_test(tc, retention_keep_days);
    tcase_add_test(tc, retention_current_never_removed);
    tcase_add_test(tc, retention_skips_what_is_not_a_backup);
    tcase_add_test(tc, parse_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
