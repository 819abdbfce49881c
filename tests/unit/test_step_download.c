/* The download step through the fake host: the rules that need no server
 * (URL policy, offers, [server] settings), a local package, reuse of a
 * complete download, undo and commit. The transfers themselves are tested
 * end to end in tests/e2e/download.sh. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "trust.h"

static nx_module *mod;
static char dir[64];
static char pkg[128];
static char sha[NX_SHA256_HEX];
#define PKG_SIZE 3000

static void setup(void)
{
    nx_err e;
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/download.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(dir, sizeof dir, "/tmp/nx-dl-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(pkg, sizeof pkg, "%s/pkg.tar.gz", dir);
    FILE *f = fopen(pkg, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < PKG_SIZE; i++)
        fputc(i * 7 % 251, f);
    fclose(f);
    uint64_t size = 0;
    ck_assert_int_eq(nx_sha256_file(pkg, sha, &size, &e), 0);
}

static void teardown(void)
{
    nx_err e;
    nx_rmtree(dir, &e);
    nx_module_unload(mod);
}

/* A host with a complete offer for `url`. */
static void host(struct fakehost *fh, const char *url)
{
    char state[128], size[32];
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(size, sizeof size, "%d", PKG_SIZE);
    fh_init(fh, mod->step);
    json_object_set_new(fh->info, "state_dir", json_string(state));
    json_object_set_new(fh->info, "component", json_string("plugin:forum"));
    json_object_set_new(fh->info, "to_version", json_string("2.0.0"));
    json_object_set_new(fh->info, "param.download_url", json_string(url));
    json_object_set_new(fh->info, "param.size_bytes", json_string(size));
    json_object_set_new(fh->info, "param.sha256", json_string(sha));
}

static int validate_url(const char *url, int allow_http, char *msg, size_t len)
{
    struct fakehost fh;
    host(&fh, url);
    if (allow_http)
        json_object_set_new(fh.config, "server.allow_http", json_string("true"));
    int rc = fh_call(&fh, "validate");
    snprintf(msg, len, "%s", fh.msg);
    fh_free(&fh);
    return rc;
}

START_TEST(url_policy)
{
    static const char *ok[] = {
        "https://updates.example.com/core-1.1.0.tar.gz",
        "http://127.0.0.1:8080/x.zip",
        "http://127.3.4.5/x.zip",
        "http://localhost/x.zip",
        "HTTP://LOCALHOST:81/x.zip",
        "http://[::1]:8080/x.zip",
    };
    static const char *plain[] = {
        "http://192.0.2.1/x.zip",
        "http://updates.example.com/x.zip",
        "http://128.0.0.1/x.zip",
        "http://[::2]/x.zip",
        "http://localhost.example.com/x.zip",
        "http://127.0.0.1.example.com/x.zip",
    };
    static const char *other[] = { "ftp://127.0.0.1/x.zip", "file://host/tmp/x.zip", "/tmp/x.zip",
                                   "updates.example.com/x.zip" };
    char msg[2048];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ck_assert_msg(validate_url(ok[i], 0, msg, sizeof msg) == 0, "%s: %s", ok[i], msg);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        ck_assert_int_eq(validate_url(plain[i], 0, msg, sizeof msg), NEXO_EINVAL);
        ck_assert_msg(strstr(msg, plain[i]) && strstr(msg, "plain http is allowed only"), "%s",
                      msg);
        ck_assert_msg(validate_url(plain[i], 1, msg, sizeof msg) == 0, "%s: %s", plain[i], msg);
    }
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        ck_assert_int_eq(validate_url(other[i], 1, msg, sizeof msg), NEXO_EINVAL);
        ck_assert_msg(strstr(msg, other[i]), "%s", msg);
    }
    /* a local repository: file:///PATH must exist */
    ck_assert_int_eq(validate_url("file:///nonexistent/x.zip", 0, msg, sizeof msg), NEXO_ENOTFOUND);
    ck_assert_msg(strstr(msg, "file:///nonexistent/x.zip"), "%s", msg);
    ck_assert_int_eq(validate_url("file:///etc/passwd", 0, msg, sizeof msg), 0);
}
END_TEST

START_TEST(offer_and_settings)
{
    struct fakehost fh;
    host(&fh, "https://example.com/x.zip");
    json_object_set_new(fh.info, "param.size_bytes", json_string("0"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "size_bytes = '0'"));
    json_object_set_new(fh.info, "param.size_bytes", json_string("12x"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    json_object_set_new(fh.info, "param.size_bytes", json_string("12"));
    json_object_set_new(fh.info, "param.sha256", json_string("abc"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "64 hex digits"));
    json_object_del(fh.info, "param.sha256");
    ck_assert_int_eq(fh_call(&fh, "validate"), 0); /* pipeline validate: no full offer */
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "has no sha256"));
    fh_free(&fh);

    host(&fh, "https://example.com/x.zip");
    json_object_set_new(fh.config, "server.timeout", json_string("0"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "[server] timeout"));
    json_object_set_new(fh.config, "server.timeout", json_string("10"));
    json_object_set_new(fh.config, "server.ca_file", json_string("/nonexistent/ca.pem"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "/nonexistent/ca.pem"));
    json_object_del(fh.config, "server.ca_file");
    json_object_set_new(fh.config, "server.api_key", json_string("a b\r\nX-Evil: 1"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "api_key"));
    fh_free(&fh);
}
END_TEST

START_TEST(local_package)
{
    /* A local package is copied into STATE/downloads through one
     * descriptor; the copy (0600) is what is published, and what is
     * checked: the original may change afterwards without effect. */
    struct fakehost fh;
    host(&fh, "");
    json_object_set_new(fh.info, "update_id", json_string("20260101-000000-00000000"));
    json_object_set_new(fh.info, "param.package", json_string(pkg));
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    char copy[512];
    snprintf(copy, sizeof copy, "%s/state/downloads/plugin-forum-2.0.0-local-"
             "20260101-000000-00000000.tar.gz", dir);
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "package_file")), copy);
    ck_assert_str_eq(json_string_value(json_object_get(fh.state, "copy")), copy);
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "package_sha256")), sha);
    struct stat st;
    ck_assert_int_eq(stat(copy, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq((int)st.st_size, PKG_SIZE);
    ck_assert_int_eq(fh_call(&fh, "commit"), 0);
    ck_assert_int_ne(access(copy, F_OK), 0);   /* the copy goes with the update */
    ck_assert_int_eq(access(pkg, F_OK), 0);    /* the original is never removed */
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_eq(access(pkg, F_OK), 0);
    json_object_set_new(fh.info, "param.size_bytes", json_string("2999"));
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EVERIFY);
    ck_assert_ptr_nonnull(strstr(fh.msg, "2999"));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_ne(access(copy, F_OK), 0);   /* undo removes a copy too */
    fh_free(&fh);
}
END_TEST

/* A complete download already there is reused without any connection
 * (the URL's port is closed); commit removes it, twice is fine. */
START_TEST(reuse_undo_commit)
{
    char target[256], cmd[512];
    snprintf(target, sizeof target, "%s/state/downloads/plugin-forum-2.0.0-%.16s.tar.gz", dir,
             sha);
    struct fakehost fh;
    host(&fh, "http://127.0.0.1:1/forum-2.0.0.tar.gz");
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, target));
    snprintf(cmd, sizeof cmd, "mkdir -p %s/state/downloads && cp %s %s", dir, pkg, target);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "reusing"));
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "package_file")), target);
    ck_assert_str_eq(json_string_value(json_object_get(fh.state, "file")), target);
    struct stat st;
    snprintf(cmd, sizeof cmd, "%s/state/downloads", dir);
    ck_assert_int_eq(stat(cmd, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);

    /* undo in a fresh "process": keeps the verified file, twice */
    struct fakehost fresh;
    host(&fresh, "http://127.0.0.1:1/forum-2.0.0.tar.gz");
    json_object_update(fresh.state, fh.state);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    ck_assert_int_eq(access(target, F_OK), 0);
    ck_assert_int_eq(fh_call(&fresh, "commit"), 0);
    ck_assert_int_ne(access(target, F_OK), 0);
    ck_assert_int_eq(fh_call(&fresh, "commit"), 0);
    fh_free(&fresh);

    /* nothing there now: the closed port makes the download fail, and the
     * empty .part is not kept */
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EIO);
    ck_assert_ptr_nonnull(strstr(fh.msg, "http://127.0.0.1:1/forum-2.0.0.tar.gz: download failed"));
    snprintf(cmd, sizeof cmd, "%s.part", target);
    ck_assert_int_ne(access(cmd, F_OK), 0);
    fh_free(&fh);
}
END_TEST

START_TEST(undo_without_state)
{
    struct fakehost fh;
    host(&fh, "https://example.com/x.zip");
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_eq(fh_call(&fh, "commit"), 0);
    fh_free(&fh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("download");
    TCase *tc = tcase_create("download");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, url_policy);
    tcase_add_test(tc, offer_and_settings);
    tcase_add_test(tc, local_package);
    tcase_add_test(tc, reuse_undo_commit);
    tcase_add_test(tc, undo_without_state);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
