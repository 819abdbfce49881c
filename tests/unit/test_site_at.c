/* Steps that change the site, against a site owner who plants links
 * (issue 11): maintenance's ROOT/MAINTENANCE, cache_clear's var/cache and
 * migrate's <cleanup> trash (steps/migrate/trash.c, built in). Nothing is
 * followed through a link; the link's target is never touched. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "migrate.h"
#include "util.h"

static char base[64];
static char root[128];    /* the site */
static char outside[128]; /* root's, outside the site */
static char secret[160];  /* outside/secret, 0600 */

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    nx_err e;
    snprintf(base, sizeof base, "/tmp/nx-siteat-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
    ck_assert_int_eq(chmod(base, 0755), 0);
    snprintf(root, sizeof root, "%s/site", base);
    snprintf(outside, sizeof outside, "%s/etc", base);
    snprintf(secret, sizeof secret, "%s/shadow", outside);
    ck_assert_int_eq(nx_mkdirs(root, 0755, &e), 0);
    ck_assert_int_eq(nx_mkdirs(outside, 0755, &e), 0);
    put(secret, "root:secret\n");
    ck_assert_int_eq(chmod(secret, 0600), 0);
}

static void teardown(void)
{
    nx_err e;
    ck_assert_msg(nx_rmtree(base, &e) == 0, "%s", e.msg);
}

static void secret_intact(void)
{
    struct stat st;
    ck_assert_int_eq(lstat(secret, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq(st.st_uid, geteuid());
    ck_assert_int_eq(st.st_size, 12);
    char *t = NULL;
    nx_err e;
    ck_assert_int_eq(nx_read_file(secret, &t, NULL, 0, &e), 0);
    ck_assert_str_eq(t, "root:secret\n");
    free(t);
}

static nx_module *load(const char *name)
{
    nx_err e;
    char *p = nx_xasprintf(NX_TEST_BINDIR "/modules/steps/%s.so", name);
    nx_module *m = nx_module_load(p, NX_STEP, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    free(p);
    return m;
}

static void host(struct fakehost *fh, nx_module *m)
{
    fh_init(fh, m ? m->step : NULL);
    json_object_set_new(fh->info, "root", json_string(root));
}

/* ---- maintenance ---------------------------------------------------------- */

/* MAINTENANCE planted as a link to a root-owned file: turning maintenance
 * on is refused, naming it; the target is neither read into the journal
 * nor written; off and undo leave the link alone. */
START_TEST(maintenance_link_refused)
{
    nx_module *m = load("maintenance");
    char *flag = nx_path_join(root, "MAINTENANCE");
    ck_assert_int_eq(symlink(secret, flag), 0);
    struct fakehost on;
    host(&on, m);
    json_object_set_new(on.settings, "action", json_string("on"));
    ck_assert_int_ne(fh_call(&on, "run"), 0);
    ck_assert_ptr_nonnull(strstr(on.msg, flag));
    ck_assert_ptr_nonnull(strstr(on.msg, "symbolic link"));
    secret_intact();
    struct stat st;
    ck_assert_int_eq(lstat(flag, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));

    struct fakehost off;
    host(&off, m);
    json_object_set_new(off.settings, "action", json_string("off"));
    ck_assert_msg(fh_call(&off, "run") == 0, "%s", off.msg);
    ck_assert_ptr_nonnull(strstr(off.logbuf, "not this update's"));
    ck_assert_ptr_null(json_object_get(off.state, "removed"));
    ck_assert_int_eq(fh_call(&off, "undo"), 0);
    json_object_set_new(on.state, "wrote", json_string("1"));
    ck_assert_int_eq(fh_call(&on, "undo"), 0);
    ck_assert_int_eq(lstat(flag, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    secret_intact();

    /* a fifo there is refused too, never waited on */
    ck_assert_int_eq(unlink(flag), 0);
    ck_assert_int_eq(mkfifo(flag, 0644), 0);
    ck_assert_int_ne(fh_call(&on, "run"), 0);
    ck_assert_ptr_nonnull(strstr(on.msg, "not a regular file"));

    /* without anything planted, the file is written and is a plain file */
    ck_assert_int_eq(unlink(flag), 0);
    struct fakehost ok;
    host(&ok, m);
    json_object_set_new(ok.settings, "action", json_string("on"));
    ck_assert_msg(fh_call(&ok, "run") == 0, "%s", ok.msg);
    ck_assert_int_eq(lstat(flag, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    fh_free(&on);
    fh_free(&off);
    fh_free(&ok);
    free(flag);
    nx_module_unload(m);
}
END_TEST

/* ---- cache_clear ----------------------------------------------------------- */

/* var is a link to a folder outside the site: refused, naming it; the
 * outside folder keeps its file. A link as the cache folder itself:
 * refused too. */
START_TEST(cache_link_in_path_refused)
{
    nx_module *m = load("cache_clear");
    char *var = nx_path_join(root, "var");
    char *cache = nx_path_join(outside, "cache");
    ck_assert_int_eq(mkdir(cache, 0755), 0);
    char *item = nx_path_join(cache, "keep.php");
    put(item, "x");
    ck_assert_int_eq(symlink(outside, var), 0);
    struct fakehost fh;
    host(&fh, m);
    json_object_set_new(fh.info, "update_id", json_string("u1"));
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    ck_assert_ptr_nonnull(strstr(fh.msg, var));
    ck_assert_ptr_nonnull(strstr(fh.msg, "symbolic link"));
    ck_assert_int_eq(access(item, F_OK), 0);

    /* var a real folder, var/cache a link */
    ck_assert_int_eq(unlink(var), 0);
    ck_assert_int_eq(mkdir(var, 0755), 0);
    char *link = nx_path_join(var, "cache");
    ck_assert_int_eq(symlink(cache, link), 0);
    struct fakehost again;
    host(&again, m);
    json_object_set_new(again.info, "update_id", json_string("u2"));
    ck_assert_int_ne(fh_call(&again, "run"), 0);
    ck_assert_ptr_nonnull(strstr(again.msg, "symbolic link"));
    ck_assert_int_eq(access(item, F_OK), 0);

    /* the journal of a run whose aside folder became a link since: commit
     * removes the link, not what it points to */
    ck_assert_int_eq(unlink(link), 0);
    ck_assert_int_eq(mkdir(link, 0755), 0);
    struct fakehost run;
    host(&run, m);
    json_object_set_new(run.info, "update_id", json_string("u3"));
    ck_assert_msg(fh_call(&run, "run") == 0, "%s", run.msg);
    const char *aside = json_string_value(json_object_get(run.state, "aside"));
    ck_assert_ptr_nonnull(aside);
    ck_assert_int_eq(rmdir(aside), 0);
    ck_assert_int_eq(symlink(cache, aside), 0);
    ck_assert_msg(fh_call(&run, "commit") == 0, "%s", run.msg);
    struct stat st;
    ck_assert_int_ne(lstat(aside, &st), 0);
    ck_assert_int_eq(access(item, F_OK), 0);
    fh_free(&fh);
    fh_free(&again);
    fh_free(&run);
    free(var);
    free(cache);
    free(item);
    free(link);
    nx_module_unload(m);
}
END_TEST

/* ---- migrate's <cleanup> trash ---------------------------------------------- */

static void trash_host(struct fakehost *fh)
{
    host(fh, NULL);
    json_object_set_new(fh->info, "update_id", json_string("20260101-000000-00000000"));
}

/* modules is a link to a folder outside: cleanup of modules/deprecated is
 * refused naming the path, and what is outside stays. A real path is moved
 * to the trash, put back by undo, and the trash deleted by commit without
 * following a link planted in it. */
START_TEST(trash_link_component_refused)
{
    char *mods = nx_path_join(root, "modules");
    char *dep = nx_path_join(outside, "deprecated");
    ck_assert_int_eq(mkdir(dep, 0755), 0);
    char *inner = nx_path_join(dep, "old.php");
    put(inner, "x");
    ck_assert_int_eq(symlink(outside, mods), 0);
    struct fakehost fh;
    trash_host(&fh);
    const struct nexo_host *h = &fh.table;
    nexo_ctx *c = fh_ctx(&fh);
    ck_assert_int_ne(mg_trash_move(h, c, root, "modules/deprecated", "m.xml:3"), 0);
    ck_assert_ptr_nonnull(strstr(fh.msg, "m.xml:3"));
    ck_assert_ptr_nonnull(strstr(fh.msg, "modules: refused: a symbolic link"));
    ck_assert_int_eq(access(inner, F_OK), 0);
    ck_assert_ptr_null(json_object_get(fh.state, "trash.count"));

    /* a real folder: moved aside, put back, moved again and purged */
    ck_assert_int_eq(unlink(mods), 0);
    char *real = nx_path_join(mods, "deprecated");
    nx_err e;
    ck_assert_int_eq(nx_mkdirs(real, 0755, &e), 0);
    char *file = nx_path_join(real, "a.php");
    put(file, "y");
    ck_assert_msg(mg_trash_move(h, c, root, "modules/deprecated", "m.xml:3") == 0, "%s",
                  fh.msg);
    ck_assert_int_ne(access(real, F_OK), 0);
    ck_assert_msg(mg_trash_restore(h, c) == 0, "%s", fh.msg);
    ck_assert_int_eq(access(file, F_OK), 0);

    struct fakehost run2;
    trash_host(&run2);
    json_object_set_new(run2.info, "update_id", json_string("second"));
    h = &run2.table;
    c = fh_ctx(&run2);
    ck_assert_msg(mg_trash_move(h, c, root, "modules/deprecated", "m.xml:3") == 0, "%s",
                  run2.msg);
    /* the site's owner plants a link to the outside in the trash */
    char *planted = nx_xasprintf("%s/.nexo-trash-second/0/evil", root);
    ck_assert_int_eq(symlink(outside, planted), 0);
    ck_assert_msg(mg_trash_purge(h, c) == 0, "%s", run2.msg);
    char *trash = nx_path_join(root, ".nexo-trash-second");
    ck_assert_int_ne(access(trash, F_OK), 0);
    ck_assert_int_eq(access(inner, F_OK), 0);
    secret_intact();

    /* the trash folder replaced by a link: purge removes the link only */
    ck_assert_int_eq(symlink(outside, trash), 0);
    ck_assert_msg(mg_trash_purge(h, c) == 0, "%s", run2.msg);
    struct stat st;
    ck_assert_int_ne(lstat(trash, &st), 0);
    ck_assert_int_eq(access(inner, F_OK), 0);
    fh_free(&fh);
    fh_free(&run2);
    free(mods);
    free(dep);
    free(inner);
    free(real);
    free(file);
    free(planted);
    free(trash);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("site_at");
    TCase *tc = tcase_create("site_at");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, maintenance_link_refused);
    tcase_add_test(tc, cache_link_in_path_refused);
    tcase_add_test(tc, trash_link_component_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
