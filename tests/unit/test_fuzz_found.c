/* What the fuzz targets (fuzz/) found, each input kept in
 * fuzz/corpus/TARGET/crash-*: the readers of outside documents must give
 * one-line errors and never crash or overflow on them. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extract.h"
#include "fakehost.h"
#include "manifest.h"
#include "records.h"
#include "testutil.h"
#include "util.h"

#define CORPUS NX_TEST_SRCDIR "/fuzz/corpus/"

static char *slurp(const char *path, size_t *len)
{
    char *text = NULL;
    nx_err e;
    ck_assert_msg(nx_read_file(path, &text, len, 1u << 20, &e) == 0, "%s", e.msg);
    return text;
}

/* nexo-release.json with a newline inside the bad JSON jansson quotes. */
START_TEST(test_manifest_json_error_one_line)
{
    size_t len;
    char *text = slurp(CORPUS "manifest/crash-json-error-newline.json", &len);
    nx_err e = { { 0 } };
    ck_assert_ptr_null(nx_manifest_parse(text, len, "pkg:nexo-release.json", &e));
    ck_assert_msg(strncmp(e.msg, "pkg:nexo-release.json: not valid JSON: ", 39) == 0, "%s",
                  e.msg);
    ck_assert_msg(!strchr(e.msg, '\n'), "more than one line: %s", e.msg);
    free(text);
}
END_TEST

/* An API answer (unsigned) with a newline inside its bad JSON. */
START_TEST(test_api_json_error_one_line)
{
    size_t len;
    char *text = slurp(CORPUS "index/crash-api-json-error-newline", &len);
    nx_component c = { 0 };
    c.name = (char *)"core";
    c.installed = (char *)"1.0.0";
    nx_err e = { { 0 } };
    /* the first byte chooses the target's mode: the answer follows */
    ck_assert_int_eq(nx_check_api_doc(&c, text + 1, len - 1, "https://u.example/api/check", &e),
                     -1);
    ck_assert_msg(strncmp(e.msg, "https://u.example/api/check: malformed JSON", 43) == 0, "%s",
                  e.msg);
    ck_assert_msg(!strchr(e.msg, '\n'), "more than one line: %s", e.msg);
    ck_assert_uint_eq(c.nrel, 0);
    free(text);
}
END_TEST

/* An index whose relative download_url holds a newline: the error quotes
 * it, escaped, on one line (found by fuzz_index in the CI smoke run). */
START_TEST(test_index_url_newline_one_line)
{
    size_t len;
    char *text = slurp(CORPUS "index/crash-url-newline", &len);
    nx_check *chk = nx_xcalloc(1, sizeof *chk);
    const char *src = "https://updates.example/nexo/index.json";
    chk->source = nx_xstrdup(src);
    chk->mode = "index";
    chk->notes = json_array();
    chk->ncomp = 1;
    chk->comp = nx_xcalloc(1, sizeof *chk->comp);
    chk->comp[0].name = nx_xstrdup("core");
    chk->comp[0].installed = nx_xstrdup("1.0.0");
    nx_err e = { { 0 } };
    int rc = nx_check_index_doc(chk, text + 1, len - 1, NULL, &e);
    if (rc != 0) {
        ck_assert_msg(strncmp(e.msg, src, strlen(src)) == 0, "%s", e.msg);
        ck_assert_msg(!strchr(e.msg, '\n'), "more than one line: %s", e.msg);
    }
    nx_check_free(chk);
    free(text);
}
END_TEST

/* Every nx_err message is one line, whatever a name in it holds. */
START_TEST(test_error_messages_one_line)
{
    nx_err e = { { 0 } };
    nx_seterr(&e, "download_url '%s': bad", "core/\nnexo\t\x01.zip");
    ck_assert_str_eq(e.msg, "download_url 'core/\\nnexo\\t\\x01.zip': bad");
    nx_preferr(&e, "%s", "in\rdex");
    ck_assert_str_eq(e.msg, "in\\rdex: download_url 'core/\\nnexo\\t\\x01.zip': bad");
}
END_TEST

/* auto.json: an interrupted attempt with journals_before INT64_MAX stays
 * blocked (it was journals_before + 1: signed overflow, and unblocked). */
START_TEST(test_auto_journals_before_max)
{
    char *state = nx_path_join(tu_dir, "state");
    char *ini_text = nx_xasprintf("[paths]\nstate = %s\n", state);
    char *ini = tu_write("nexo-update.ini", ini_text);
    nx_err e;
    nx_config *cfg = nx_config_load(ini, &e);
    ck_assert_msg(cfg != NULL, "%s", e.msg);
    char *why = NULL;
    ck_assert_int_eq(nx_auto_record_check(cfg, CORPUS "auto/crash-journals-before-max.json",
                                          "core", "1.1.0", &why, &e), 0);
    ck_assert_msg(why && strstr(why, "core 1.1.0 was interrupted"), "not blocked: %s",
                  why ? why : "(null)");
    free(why);
    nx_config_free(cfg);
    free(ini);
    free(ini_text);
    free(state);
}
END_TEST

/* A scheduled job whose command holds a number: not a job (it crashed
 * list and run-due: a NULL word in strcmp). */
START_TEST(test_sched_command_not_string)
{
    const char *path = CORPUS "sched/crash-command-not-string.json";
    char *component = NULL, *text = NULL;
    const char *to = NULL;
    int major = 0;
    nx_err e = { { 0 } };
    ck_assert_ptr_null(nx_sched_job_read(path, &component, &to, &major, &text, &e));
    ck_assert_msg(strstr(e.msg, "not a scheduled job"), "%s", e.msg);
    /* a good job still reads */
    json_t *job = nx_sched_job_read(CORPUS "sched/pending.json", &component, &to, &major, &text,
                                    &e);
    ck_assert_msg(job != NULL, "%s", e.msg);
    ck_assert_str_eq(component, "core");
    ck_assert_str_eq(to, "1.1.0");
    ck_assert_int_eq(major, 1);
    json_decref(job);
    free(component);
    free(text);
}
END_TEST

/* A zip whose nexo-release.json has the wrong size: libarchive's message
 * ends in a newline, the extract step's error must not. */
START_TEST(test_extract_error_one_line)
{
    const char *pkg = CORPUS "extract/crash-zip-size-newline";
    struct fakehost fh;
    fh_init(&fh, NULL);
    struct xt x;
    memset(&x, 0, sizeof x);
    x.h = &fh.table;
    x.c = fh_ctx(&fh);
    x.pkg = pkg;
    x.pkgfd = open(pkg, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(x.pkgfd, 0);
    x.pkgsize = (uint64_t)lseek(x.pkgfd, 0, SEEK_END);
    x.max_ratio = 100;
    x.dfd = -1;
    x.buf = nx_xmalloc(XT_BUFSIZE);
    ck_assert_int_ne(xt_read_manifest(&x), 0);
    ck_assert_msg(strstr(fh.msg, "wrong size"), "%s", fh.msg);
    ck_assert_msg(!strchr(fh.msg, '\n'), "more than one line: [%s]", fh.msg);
    xt_free(&x);
    fh_free(&fh);
}
END_TEST

static Suite *found_suite(void)
{
    Suite *s = suite_create("fuzz_found");
    TCase *tc = tcase_create("documents");
    tcase_add_test(tc, test_manifest_json_error_one_line);
    tcase_add_test(tc, test_api_json_error_one_line);
    tcase_add_test(tc, test_index_url_newline_one_line);
    tcase_add_test(tc, test_error_messages_one_line);
    tcase_add_test(tc, test_sched_command_not_string);
    tcase_add_test(tc, test_extract_error_one_line);
    suite_add_tcase(s, tc);
    tc = tcase_create("state");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_auto_journals_before_max);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(found_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
