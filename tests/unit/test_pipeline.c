/* Unit tests for core/pipeline.c (Check). */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline.h"
#include "testutil.h"
#include "util.h"

#define MODDIR NX_TEST_BINDIR "/tests/modules"

/* ---- helpers ----------------------------------------------------------- */


static char *g_mods;      /* tu_dir/mods: a modules folder with steps/ */
static char *g_fake_step; /* g_mods/steps/fake_step.so */

static void tmp_setup(void)
{
    nx_err e = {{0}};
    tu_tmp_setup();
    g_mods = nx_path_join(tu_dir, "mods");
    char *steps = nx_path_join(g_mods, "steps");
    ck_assert_msg(nx_mkdirs(steps, 0755, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(chmod(g_mods, 0755), 0);
    ck_assert_int_eq(chmod(steps, 0755), 0);
    g_fake_step = nx_path_join(steps, "fake_step.so");
    tu_copy(MODDIR "/fake_step.so", g_fake_step);
    char *check = nx_path_join(steps, "fake_check.so");
    tu_copy(MODDIR "/fake_check.so", check);
    free(check);
    free(steps);
}

static void tmp_teardown(void)
{
    tu_tmp_teardown();
    free(g_mods);
    free(g_fake_step);
    g_mods = g_fake_step = NULL;
}

static nx_pipeline *parse_text(const char *text)
{
    char *path = tu_write("test.ini", text);
    nx_err e = {{0}};
    nx_pipeline *p = nx_pipeline_parse(path, &e);
    ck_assert_msg(p != NULL, "parse failed: %s", e.msg);
    ck_assert_str_eq(p->file, path);
    free(path);
    return p;
}

static void assert_has(const char *msg, const char *needle)
{
    ck_assert_msg(strstr(msg, needle) != NULL, "'%s' lacks '%s'", msg, needle);
}

static void assert_at(const char *msg, const char *path, int line)
{
    char where[256];
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    assert_has(msg, where);
}

/* Parse expecting failure at `line` (0: no line) with every needle. */
static void expect_parse_error(const char *text, int line, const char *const *needles)
{
    char *path = tu_write("test.ini", text);
    nx_err e = {{0}};
    nx_pipeline *p = nx_pipeline_parse(path, &e);
    ck_assert_msg(p == NULL, "parsed although it should fail:\n%s", text);
    if (line > 0)
        assert_at(e.msg, path, line);
    else
        assert_has(e.msg, path);
    for (const char *const *n = needles; *n; n++)
        assert_has(e.msg, *n);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "message spans lines: '%s'", e.msg);
    free(path);
}

/* Parse fine, load_modules must fail at `line` with every needle, and no
 * module may stay loaded. */
static void expect_load_error(const char *text, int line, const char *const *needles)
{
    nx_pipeline *p = parse_text(text);
    nx_err e = {{0}};
    ck_assert_int_eq(nx_pipeline_load_modules(p, g_mods, &e), -1);
    assert_at(e.msg, p->file, line);
    for (const char *const *n = needles; *n; n++)
        assert_has(e.msg, *n);
    for (size_t i = 0; i < p->nsteps; i++)
        ck_assert_msg(p->steps[i].mod == NULL, "step %zu [%s] still has its module", i,
                      p->steps[i].name);
    nx_pipeline_free(p);
}

static const nx_kv *find_kv(const nx_step_inst *s, const char *key)
{
    for (size_t i = 0; i < s->nsettings; i++)
        if (strcmp(s->settings[i].key, key) == 0)
            return &s->settings[i];
    return NULL;
}

#if !defined(__SANITIZE_ADDRESS__)
/* Is the module file still mapped into the process? (The sanitizer build
 * never unmaps modules.) */
static int is_mapped(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return 0;
    dlclose(h);
    return 1;
}
#endif

/* ---- parsing ----------------------------------------------------------- */

START_TEST(test_parse_steps_in_order)
{
    nx_pipeline *p = parse_text("; a test pipeline\n"                      /* 1 */
                                "[pipeline]\n"                             /* 2 */
                                "name = core-test\n"                       /* 3 */
                                "description = A pipeline for tests\n"     /* 4 */
                                "\n"                                       /* 5 */
                                "[first]\n"                                /* 6 */
                                "module = fake_step\n"                     /* 7 */
                                "dir = /tmp/x ; the folder\n"              /* 8 */
                                "\n"                                       /* 9 */
                                "[second.step-2]\n"                        /* 10 */
                                "checkpoints = 3\n"                        /* 11 */
                                "module = " MODDIR "/fake_check.so\n"      /* 12 */
                                "fail = none\n"                            /* 13 */
                                "[Third_3]\n"                              /* 14 */
                                "module = fake_step\n");                   /* 15 */
    ck_assert_str_eq(p->name, "core-test");
    ck_assert_str_eq(p->description, "A pipeline for tests");
    ck_assert_uint_eq(p->nsteps, 3);

    const nx_step_inst *s = &p->steps[0];
    ck_assert_str_eq(s->name, "first");
    ck_assert_int_eq(s->line, 6);
    ck_assert_str_eq(s->module, "fake_step");
    ck_assert_int_eq(s->module_line, 7);
    ck_assert_ptr_null(s->module_path);
    ck_assert_ptr_null(s->mod);
    ck_assert_uint_eq(s->nsettings, 1);
    ck_assert_str_eq(s->settings[0].key, "dir");
    ck_assert_str_eq(s->settings[0].value, "/tmp/x");
    ck_assert_int_eq(s->settings[0].line, 8);

    s = &p->steps[1];
    ck_assert_str_eq(s->name, "second.step-2");
    ck_assert_int_eq(s->line, 10);
    ck_assert_str_eq(s->module, MODDIR "/fake_check.so");
    ck_assert_int_eq(s->module_line, 12);
    ck_assert_uint_eq(s->nsettings, 2);
    ck_assert_str_eq(s->settings[0].key, "checkpoints");
    ck_assert_str_eq(s->settings[0].value, "3");
    ck_assert_int_eq(s->settings[0].line, 11);
    ck_assert_str_eq(s->settings[1].key, "fail");
    ck_assert_int_eq(s->settings[1].line, 13);

    s = &p->steps[2];
    ck_assert_str_eq(s->name, "Third_3");
    ck_assert_int_eq(s->line, 14);
    ck_assert_int_eq(s->module_line, 15);
    ck_assert_uint_eq(s->nsettings, 0);
    /* Before loading only what the file says. */
    ck_assert_str_eq(nx_step_setting(&p->steps[0], "dir"), "/tmp/x");
    ck_assert_ptr_null(nx_step_setting(&p->steps[1], "dir"));
    ck_assert_ptr_null(nx_step_setting(&p->steps[0], "checkpoints"));
    nx_pipeline_free(p);
}
END_TEST

START_TEST(test_parse_default_name)
{
    char *path = tu_write("mypipe.ini", "[only]\nmodule = fake_step\n");
    nx_err e = {{0}};
    nx_pipeline *p = nx_pipeline_parse(path, &e);
    ck_assert_msg(p != NULL, "%s", e.msg);
    ck_assert_str_eq(p->name, "mypipe");
    ck_assert_ptr_null(p->description);
    ck_assert_uint_eq(p->nsteps, 1);
    nx_pipeline_free(p);
    free(path);

    path = tu_write("noext", "[pipeline]\ndescription = d\n[only]\nmodule = fake_step\n");
    p = nx_pipeline_parse(path, &e);
    ck_assert_msg(p != NULL, "%s", e.msg);
    ck_assert_str_eq(p->name, "noext");
    ck_assert_str_eq(p->description, "d");
    nx_pipeline_free(p);
    free(path);
}
END_TEST

START_TEST(test_parse_pipeline_section_last)
{
    nx_pipeline *p = parse_text("[a]\nmodule = fake_step\n[pipeline]\nname = late\n"
                                "[b]\nmodule = fake_step\n");
    ck_assert_str_eq(p->name, "late");
    ck_assert_uint_eq(p->nsteps, 2);
    ck_assert_str_eq(p->steps[0].name, "a");
    ck_assert_str_eq(p->steps[1].name, "b");
    ck_assert_int_eq(p->steps[1].line, 5);
    nx_pipeline_free(p);
}
END_TEST

START_TEST(test_parse_setting_continuation)
{
    nx_pipeline *p = parse_text("[a]\nmodule = fake_step\ndir = /one\n  two\n\tthree\n"
                                "fail = run\n");
    const nx_kv *kv = find_kv(&p->steps[0], "dir");
    ck_assert_ptr_nonnull(kv);
    ck_assert_str_eq(kv->value, "/one two three");
    ck_assert_int_eq(kv->line, 3);
    kv = find_kv(&p->steps[0], "fail");
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(kv->line, 6);
    nx_pipeline_free(p);
}
END_TEST

START_TEST(test_parse_long_setting)
{
    char *val = nx_xmalloc(801);
    for (size_t i = 0; i < 800; i++)
        val[i] = (char)('A' + (i % 26));
    val[0] = '/';
    val[800] = '\0';
    char *text = nx_xasprintf("[a]\nmodule = fake_step\ndir = %s\n[b]\nmodule = fake_step\n",
                              val);
    nx_pipeline *p = parse_text(text);
    const nx_kv *kv = find_kv(&p->steps[0], "dir");
    ck_assert_ptr_nonnull(kv);
    ck_assert_str_eq(kv->value, val);
    ck_assert_int_eq(kv->line, 3);
    ck_assert_int_eq(p->steps[1].line, 4);
    nx_pipeline_free(p);
    free(text);
    free(val);
}
END_TEST

START_TEST(test_parse_name_limits)
{
    /* Instance names: letters, digits, '_', '-', '.', up to 64. */
    nx_pipeline *p = parse_text("[a]\nmodule = fake_step\n[Z-9_.x]\nmodule = fake_step\n"
                                "[0]\nmodule = fake_step\n");
    ck_assert_uint_eq(p->nsteps, 3);
    ck_assert_str_eq(p->steps[1].name, "Z-9_.x");
    nx_pipeline_free(p);
}
END_TEST

/* ---- parse errors ------------------------------------------------------ */

START_TEST(test_err_unknown_pipeline_key)
{
    static const char *const n[] = { "unknown key 'version'", "[pipeline]", NULL };
    expect_parse_error("[pipeline]\nname = x\nversion = 2\n[a]\nmodule = fake_step\n", 3, n);
}
END_TEST

START_TEST(test_err_pipeline_key_twice)
{
    static const char *const n[] = { "[pipeline] name given twice", NULL };
    expect_parse_error("[pipeline]\nname = x\nname = y\n[a]\nmodule = fake_step\n", 3, n);
}
END_TEST

START_TEST(test_err_pipeline_section_twice)
{
    static const char *const n[] = { "[pipeline] given twice", "first on line 2", NULL };
    expect_parse_error("\n[pipeline]\nname = x\n[a]\nmodule = fake_step\n[pipeline]\n", 6, n);
}
END_TEST

START_TEST(test_err_step_without_module)
{
    static const char *const n[] = { "step [b]", "no 'module ='", NULL };
    expect_parse_error("[pipeline]\nname = x\n\n[a]\nmodule = fake_step\n"
                       "\n[b]\ndir = /x\n\n[c]\nmodule = fake_step\n",
                       7, n);
}
END_TEST

START_TEST(test_err_duplicate_step)
{
    static const char *const n[] = { "step [a] given twice", "first on line 2", NULL };
    expect_parse_error("\n[a]\nmodule = fake_step\n[b]\nmodule = fake_step\n\n[a]\n"
                       "module = fake_step\n",
                       7, n);
}
END_TEST

START_TEST(test_err_invalid_step_name)
{
    static const char *const bad[] = {
        "bad name", "a/b", "x:y", "ä", "a$",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = nx_xasprintf("[pipeline]\nname = x\n[ok]\nmodule = fake_step\n"
                                  "[%s]\nmodule = fake_step\n",
                                  bad[i]);
        char *quoted = nx_xasprintf("[%s]", bad[i]);
        const char *n[] = { "invalid step name", quoted, NULL };
        expect_parse_error(text, 5, n);
        free(quoted);
        free(text);
    }
    static const char *const n[] = { "empty section name", NULL };
    expect_parse_error("[a]\nmodule = fake_step\n[]\n", 3, n);
}
END_TEST

START_TEST(test_err_key_outside_section)
{
    static const char *const n[] = { "'module' outside of any section", NULL };
    expect_parse_error("; comment\nmodule = fake_step\n[a]\nmodule = fake_step\n", 2, n);
}
END_TEST

START_TEST(test_err_empty_pipeline)
{
    static const char *const n[] = { "pipeline has no steps", NULL };
    expect_parse_error("[pipeline]\nname = empty\ndescription = nothing\n", 0, n);
    expect_parse_error("", 0, n);
    expect_parse_error("; only comments\n\n", 0, n);
}
END_TEST

START_TEST(test_err_setting_twice)
{
    static const char *const n[] = { "step [a]", "setting 'dir' given twice",
                                     "first on line 3", NULL };
    expect_parse_error("[a]\nmodule = fake_step\ndir = /x\nfail = none\ndir = /y\n", 5, n);
}
END_TEST

START_TEST(test_err_module_twice)
{
    static const char *const n[] = { "step [a]: module given twice", NULL };
    expect_parse_error("[a]\nmodule = fake_step\ndir = /x\nmodule = fake_check\n", 4, n);
}
END_TEST

START_TEST(test_err_empty_module)
{
    static const char *const n[] = { "step [a]: empty module", NULL };
    expect_parse_error("[a]\n\nmodule =\n", 3, n);
}
END_TEST

START_TEST(test_err_syntax)
{
    static const char *const n[] = { "syntax error", NULL };
    expect_parse_error("[a]\nmodule = fake_step\nnot a key value line\n", 3, n);
}
END_TEST

START_TEST(test_err_missing_file)
{
    char *path = nx_path_join(tu_dir, "nope.ini");
    nx_err e = {{0}};
    ck_assert_ptr_null(nx_pipeline_parse(path, &e));
    assert_has(e.msg, path);
    assert_has(e.msg, "cannot open");
    free(path);
}
END_TEST

/* ---- loading modules --------------------------------------------------- */

START_TEST(test_load_modules)
{
    nx_pipeline *p = parse_text("[pipeline]\nname = t\n"
                                "[a]\nmodule = fake_step\ndir = /tmp/a\ncheckpoints = 4\n"
                                "[b]\nmodule = fake_check\ndir = /tmp/b\n"
                                "[c]\nmodule = " MODDIR "/fake_step.so\ndir = /tmp/c\n"
                                "fail = run\n");
    nx_err e = {{0}};
    ck_assert_msg(nx_pipeline_load_modules(p, g_mods, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(p->nsteps, 3);
    ck_assert_str_eq(p->steps[0].module_path, g_fake_step);
    char *check = nx_path_join(g_mods, "steps/fake_check.so");
    ck_assert_str_eq(p->steps[1].module_path, check);
    free(check);
    ck_assert_str_eq(p->steps[2].module_path, MODDIR "/fake_step.so");
    for (size_t i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(p->steps[i].mod);
        ck_assert_ptr_nonnull(p->steps[i].mod->step);
        ck_assert_str_eq(p->steps[i].mod->path, p->steps[i].module_path);
    }
    ck_assert_str_eq(p->steps[0].mod->step->name, "fake_step");
    ck_assert_str_eq(p->steps[1].mod->step->name, "fake_check");
    ck_assert_uint_eq(p->steps[1].mod->step->flags, NEXO_STEP_PRECHECK);

    /* Settings, then the module's defaults, then nothing. */
    ck_assert_str_eq(nx_step_setting(&p->steps[0], "dir"), "/tmp/a");
    ck_assert_str_eq(nx_step_setting(&p->steps[0], "checkpoints"), "4");
    ck_assert_str_eq(nx_step_setting(&p->steps[0], "fail"), "none");
    ck_assert_str_eq(nx_step_setting(&p->steps[0], "kill"), "none");
    ck_assert_str_eq(nx_step_setting(&p->steps[0], "sleep_ms"), "0");
    ck_assert_str_eq(nx_step_setting(&p->steps[1], "checkpoints"), "0");
    ck_assert_str_eq(nx_step_setting(&p->steps[2], "fail"), "run");
    ck_assert_str_eq(nx_step_setting(&p->steps[2], "dir"), "/tmp/c");
    ck_assert_ptr_null(nx_step_setting(&p->steps[0], "nonexistent"));
    ck_assert_ptr_null(nx_step_setting(&p->steps[0], "module"));
    nx_pipeline_free(p);
}
END_TEST

START_TEST(test_load_missing_module_path)
{
    char *missing = nx_path_join(tu_dir, "nope.so");
    char *text = nx_xasprintf("[a]\nmodule = fake_step\ndir = /x\n\n[b]\n\nmodule = %s\n"
                              "dir = /y\n",
                              missing);
    const char *n[] = { "step [b]", missing, "not found", NULL };
    expect_load_error(text, 7, n);
    free(text);
    free(missing);
}
END_TEST

START_TEST(test_load_missing_module_name)
{
    char *want = nx_path_join(g_mods, "steps/no_such_step.so");
    const char *n[] = { "step [x]", want, "not found", NULL };
    expect_load_error("[pipeline]\nname = p\n[x]\ndir = /x\nmodule = no_such_step\n", 5, n);
    free(want);
}
END_TEST

START_TEST(test_load_invalid_module_name)
{
    static const char *const n[] = { "step [a]", "invalid step module name '../x'", NULL };
    expect_load_error("[a]\nmodule = ../x\ndir = /x\n", 2, n);
}
END_TEST

START_TEST(test_load_undeclared_setting)
{
    static const char *const n[] = { "step [a]", "'fake_step'", "has no setting 'colour'",
                                     "dir, checkpoints, fail, kill, sleep_ms", NULL };
    expect_load_error("[a]\nmodule = fake_step\ndir = /x\n; c\ncolour = red\n", 5, n);
}
END_TEST

START_TEST(test_load_missing_required_setting)
{
    static const char *const n[] = { "step [second]", "requires the setting 'dir'", NULL };
    expect_load_error("[pipeline]\nname = p\n"
                      "[first]\nmodule = fake_step\ndir = /x\n"
                      "\n[second]\nmodule = fake_step\ncheckpoints = 2\n",
                      7, n);
}
END_TEST

START_TEST(test_load_fail_closed_broken_second)
{
    char *text = nx_xasprintf("[a]\nmodule = fake_step\ndir = /x\n"
                              "[b]\nmodule = %s/bad_name.so\n"
                              "[c]\nmodule = fake_check\ndir = /x\n",
                              MODDIR);
    const char *n[] = { "step [b]", MODDIR "/bad_name.so", "calls itself", NULL };
#if !defined(__SANITIZE_ADDRESS__)
    ck_assert_int_eq(is_mapped(g_fake_step), 0);
#endif
    expect_load_error(text, 5, n);
#if !defined(__SANITIZE_ADDRESS__)
    /* Not merely forgotten: unmapped (the sanitizer build keeps modules). */
    ck_assert_int_eq(is_mapped(g_fake_step), 0);
#endif
    free(text);
}
END_TEST

START_TEST(test_load_fail_closed_bad_setting_last)
{
    static const char *const n[] = { "step [c]", "has no setting 'bogus'", NULL };
    expect_load_error("[a]\nmodule = fake_step\ndir = /x\n"
                      "[b]\nmodule = fake_check\ndir = /x\n"
                      "[c]\nmodule = fake_step\ndir = /x\nbogus = 1\n",
                      10, n);
}
END_TEST

START_TEST(test_load_fail_closed_each_broken)
{
    static const char *const broken[][2] = {
        { "bad_abi", "not binary compatible" },
        { "bad_small", "not binary compatible" },
        { "bad_big", "not binary compatible" },
        { "bad_noundo", "lacks undo" },
        { "bad_version", "not SemVer" },
        { "bad_unversioned", "NEXO_1" },
        { "bad_nosym", "does not export" },
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        char *text = nx_xasprintf("[one]\nmodule = fake_step\ndir = /x\n"
                                  "[two]\nmodule = %s/%s.so\n",
                                  MODDIR, broken[i][0]);
        const char *n[] = { "step [two]", broken[i][0], broken[i][1], NULL };
        expect_load_error(text, 5, n);
        free(text);
    }
}
END_TEST

/* ---- JSON ------------------------------------------------------------- */

START_TEST(test_json_round_trip)
{
    nx_pipeline *p = parse_text("[pipeline]\nname = rt\ndescription = round trip\n"
                                "[a]\nmodule = fake_step\ndir = /tmp/a\ncheckpoints = 2\n"
                                "[b.2]\nmodule = " MODDIR "/fake_check.so\ndir = /tmp/b\n"
                                "[c]\nmodule = fake_step\ndir = /tmp/c\n");
    nx_err e = {{0}};
    ck_assert_msg(nx_pipeline_load_modules(p, g_mods, &e) == 0, "%s", e.msg);
    json_t *j = nx_pipeline_to_json(p);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "file")), p->file);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "rt");
    json_t *steps = json_object_get(j, "steps");
    ck_assert_uint_eq(json_array_size(steps), 3);
    json_t *s0 = json_array_get(steps, 0);
    ck_assert_str_eq(json_string_value(json_object_get(s0, "name")), "a");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "module")), "fake_step");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "path")), g_fake_step);
    ck_assert_int_eq(json_integer_value(json_object_get(s0, "line")), 4);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(s0, "settings"), "checkpoints")), "2");

    /* Through text, as the journal keeps it. */
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_t *back = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(back);
    nx_pipeline *r = nx_pipeline_from_json(back, &e);
    ck_assert_msg(r != NULL, "%s", e.msg);
    ck_assert_str_eq(r->file, p->file);
    ck_assert_str_eq(r->name, p->name);
    ck_assert_uint_eq(r->nsteps, p->nsteps);
    for (size_t i = 0; i < p->nsteps; i++) {
        const nx_step_inst *a = &p->steps[i], *b = &r->steps[i];
        ck_assert_str_eq(b->name, a->name);
        ck_assert_str_eq(b->module, a->module);
        ck_assert_str_eq(b->module_path, a->module_path);
        ck_assert_int_eq(b->line, a->line);
        ck_assert_ptr_null(b->mod);
        /* the journal form carries the declared defaults too */
        ck_assert_uint_ge(b->nsettings, a->nsettings);
        for (size_t k = 0; k < b->nsettings; k++)
            ck_assert_str_eq(b->settings[k].value, nx_step_setting(a, b->settings[k].key));
        for (size_t k = 0; k < a->nsettings; k++) {
            const nx_kv *kv = find_kv(b, a->settings[k].key);
            ck_assert_msg(kv != NULL, "step %s lost %s", a->name, a->settings[k].key);
            ck_assert_str_eq(kv->value, a->settings[k].value);
        }
    }
    /* A fresh process loads the same files, without the modules folder. */
    ck_assert_msg(nx_pipeline_load_modules(r, "/nonexistent-modules", &e) == 0, "%s", e.msg);
    for (size_t i = 0; i < r->nsteps; i++) {
        ck_assert_ptr_nonnull(r->steps[i].mod);
        ck_assert_str_eq(r->steps[i].mod->path, p->steps[i].module_path);
    }
    ck_assert_str_eq(nx_step_setting(&r->steps[0], "checkpoints"), "2");
    ck_assert_str_eq(nx_step_setting(&r->steps[1], "checkpoints"), "0");
    ck_assert_str_eq(nx_step_setting(&r->steps[2], "dir"), "/tmp/c");
    /* And back again gives the same JSON. */
    json_t *again = nx_pipeline_to_json(r);
    ck_assert(json_equal(again, back));
    json_decref(again);
    json_decref(back);
    nx_pipeline_free(r);
    nx_pipeline_free(p);
}
END_TEST

START_TEST(test_from_json_malformed)
{
    static const char *const bad[] = {
        "{}",
        "{\"file\": \"/p.ini\", \"name\": \"p\"}",
        "{\"file\": \"/p.ini\", \"steps\": []}",
        "{\"name\": \"p\", \"steps\": []}",
        "{\"file\": \"/p.ini\", \"name\": \"p\", \"steps\": {}}",
        "{\"file\": \"/p.ini\", \"name\": \"p\", \"steps\": [{\"name\": \"a\", "
        "\"module\": \"m\", \"path\": \"/m.so\"}]}",
        "{\"file\": \"/p.ini\", \"name\": \"p\", \"steps\": [{\"name\": \"a\", "
        "\"module\": \"m\", \"path\": \"\", \"settings\": {}}]}",
        "{\"file\": \"/p.ini\", \"name\": \"p\", \"steps\": [{\"name\": \"a\", "
        "\"path\": \"/m.so\", \"settings\": {}}]}",
        "{\"file\": \"/p.ini\", \"name\": \"p\", \"steps\": [{\"name\": \"a\", "
        "\"module\": \"m\", \"path\": \"/m.so\", \"settings\": {}}, 7]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_error_t je;
        json_t *j = json_loads(bad[i], 0, &je);
        ck_assert_msg(j != NULL, "%s: %s", bad[i], je.text);
        nx_err e = {{0}};
        nx_pipeline *p = nx_pipeline_from_json(j, &e);
        ck_assert_msg(p == NULL, "accepted %s", bad[i]);
        assert_has(e.msg, "malformed");
        json_decref(j);
    }
}
END_TEST

START_TEST(test_pipeline_path)
{
    char *p = nx_pipeline_path("/etc/nexo-update/pipelines", "core");
    ck_assert_str_eq(p, "/etc/nexo-update/pipelines/core.ini");
    free(p);
    p = nx_pipeline_path("/etc/p", "plugin");
    ck_assert_str_eq(p, "/etc/p/plugin.ini");
    free(p);
    p = nx_pipeline_path("/etc/p", "/srv/custom.ini");
    ck_assert_str_eq(p, "/srv/custom.ini");
    free(p);
    p = nx_pipeline_path("/etc/p", "./local.ini");
    ck_assert_str_eq(p, "./local.ini");
    free(p);
    p = nx_pipeline_path("/etc/p", "sub/x.ini");
    ck_assert_str_eq(p, "sub/x.ini");
    free(p);
}
END_TEST

START_TEST(test_shipped_pipelines_parse)
{
    static const char *const names[] = { "core", "plugin", "db" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *src = nx_pipeline_path(NX_TEST_SRCDIR "/conf/pipelines", names[i]);
        char *text = NULL;
        nx_err e = {{0}};
        /* a copy in the test's private folder: the checkout may lie below
         * a folder others can write to, which the parser refuses */
        ck_assert_msg(nx_read_file(src, &text, NULL, 0, &e) == 0, "%s", e.msg);
        char *name = nx_xasprintf("%s.ini", names[i]);
        char *path = tu_write(name, text);
        free(name);
        free(text);
        free(src);
        nx_pipeline *p = nx_pipeline_parse(path, &e);
        ck_assert_msg(p != NULL, "%s", e.msg);
        ck_assert_uint_gt(p->nsteps, 0);
        nx_pipeline_free(p);
        free(path);
    }
}
END_TEST

/* ---- regressions: bugs these tests found and that were fixed ---------- */

START_TEST(regress_step_name_50_to_64_chars)
{
    /* Valid (<= 64) but longer than inih's 50-byte section buffer: inih
     * hands the keys a truncated section name, find_step fails and
     * on_entry returns -1 without setting the error. */
    nx_pipeline *p =
        parse_text("[a123456789b123456789c123456789d123456789e123456789f1234]\n"
                   "module = fake_step\n");
    ck_assert_uint_eq(p->nsteps, 1);
    nx_pipeline_free(p);
}
END_TEST

START_TEST(regress_step_section_with_spaces)
{
    /* "[ a ]": the reader trims the header, inih does not trim the
     * section it passes with the keys; same unset error as above. */
    nx_pipeline *p = parse_text("[ a ]\nmodule = fake_step\n");
    ck_assert_str_eq(p->steps[0].name, "a");
    ck_assert_str_eq(p->steps[0].module, "fake_step");
    nx_pipeline_free(p);
}
END_TEST

START_TEST(regress_description_continuation)
{
    nx_pipeline *p = parse_text("[pipeline]\ndescription = line one\n  line two\n"
                                "[a]\nmodule = fake_step\n");
    ck_assert_str_eq(p->description, "line one line two");
    nx_pipeline_free(p);
}
END_TEST

static Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("parse");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_parse_steps_in_order);
    tcase_add_test(tc, test_parse_default_name);
    tcase_add_test(tc, test_parse_pipeline_section_last);
    tcase_add_test(tc, test_parse_setting_continuation);
    tcase_add_test(tc, test_parse_long_setting);
    tcase_add_test(tc, test_parse_name_limits);
    tcase_add_test(tc, test_shipped_pipelines_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse_errors");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_err_unknown_pipeline_key);
    tcase_add_test(tc, test_err_pipeline_key_twice);
    tcase_add_test(tc, test_err_pipeline_section_twice);
    tcase_add_test(tc, test_err_step_without_module);
    tcase_add_test(tc, test_err_duplicate_step);
    tcase_add_test(tc, test_err_invalid_step_name);
    tcase_add_test(tc, test_err_key_outside_section);
    tcase_add_test(tc, test_err_empty_pipeline);
    tcase_add_test(tc, test_err_setting_twice);
    tcase_add_test(tc, test_err_module_twice);
    tcase_add_test(tc, test_err_empty_module);
    tcase_add_test(tc, test_err_syntax);
    tcase_add_test(tc, test_err_missing_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("modules");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_load_modules);
    tcase_add_test(tc, test_load_missing_module_path);
    tcase_add_test(tc, test_load_missing_module_name);
    tcase_add_test(tc, test_load_invalid_module_name);
    tcase_add_test(tc, test_load_undeclared_setting);
    tcase_add_test(tc, test_load_missing_required_setting);
    tcase_add_test(tc, test_load_fail_closed_broken_second);
    tcase_add_test(tc, test_load_fail_closed_bad_setting_last);
    tcase_add_test(tc, test_load_fail_closed_each_broken);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_from_json_malformed);
    tcase_add_test(tc, test_pipeline_path);
    suite_add_tcase(s, tc);

    {
        tc = tcase_create("regressions");
        tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
        tcase_add_test(tc, regress_step_name_50_to_64_chars);
        tcase_add_test(tc, regress_step_section_with_spaces);
        tcase_add_test(tc, regress_description_continuation);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pipeline_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
