/* Unit tests for core/semver.c (Check). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semver.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int cmp_ok(const char *a, const char *b)
{
    nx_err e = {{0}};
    int c = nx_semver_cmp_str(a, b, &e);
    ck_assert_msg(c != -2, "parse failed: %s", e.msg);
    return c;
}

/* ---- precedence ------------------------------------------------------ */

/* Every ordering example of semver.org §11, joined into one chain. */
static const char *const spec_chain[] = {
    "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
    "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",      "1.0.0",
    "2.0.0",        "2.1.0",         "2.1.1",
};

START_TEST(test_spec_order_pairwise)
{
    size_t n = N_ELEMS(spec_chain);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(cmp_ok(spec_chain[i], spec_chain[i]) == 0, "%s != itself",
                      spec_chain[i]);
        for (size_t j = i + 1; j < n; j++) {
            ck_assert_msg(cmp_ok(spec_chain[i], spec_chain[j]) < 0, "expected %s < %s",
                          spec_chain[i], spec_chain[j]);
            ck_assert_msg(cmp_ok(spec_chain[j], spec_chain[i]) > 0, "expected %s > %s",
                          spec_chain[j], spec_chain[i]);
        }
    }
}
END_TEST

/* Further orderings, each pair strictly ascending. */
static const char *const more_order[][2] = {
    {"1.0.0-alpha", "1.0.0"},
    {"9.0.0", "10.0.0"},
    {"1.9.0", "1.10.0"},
    {"1.0.9", "1.0.10"},
    {"1.0.0-2", "1.0.0-10"},
    {"1.0.0-99", "1.0.0-a"},
    {"1.0.0-alpha.1", "1.0.0-alpha.a"},
    {"1.0.0-Z", "1.0.0-a"},
    {"1.0.0-a", "1.0.0-a-"},
    {"1.0.0-a", "1.0.0-a.0"},
    {"1.0.0-99999999999999999999998", "1.0.0-99999999999999999999999"},
    {"1.0.0-99999999999999999999999", "1.0.0-100000000000000000000000"},
    {"0.0.0", "0.0.1"},
    {"18446744073709551614.0.0", "18446744073709551615.0.0"},
};

START_TEST(test_more_order)
{
    for (size_t i = 0; i < N_ELEMS(more_order); i++) {
        const char *a = more_order[i][0], *b = more_order[i][1];
        ck_assert_msg(cmp_ok(a, b) < 0, "expected %s < %s", a, b);
        ck_assert_msg(cmp_ok(b, a) > 0, "expected %s > %s", b, a);
    }
}
END_TEST

START_TEST(test_build_ignored)
{
    ck_assert_int_eq(cmp_ok("1.0.0+a", "1.0.0+b"), 0);
    ck_assert_int_eq(cmp_ok("1.0.0-rc.1+x", "1.0.0-rc.1"), 0);
    ck_assert_int_eq(cmp_ok("1.0.0-rc.1", "1.0.0-rc.1+x"), 0);
    ck_assert_int_eq(cmp_ok("1.0.0", "1.0.0+20130313144700"), 0);
    ck_assert_int_lt(cmp_ok("1.0.0-rc.1+zzz", "1.0.0+aaa"), 0);
}
END_TEST

START_TEST(test_cmp_str_error)
{
    nx_err e = {{0}};
    ck_assert_int_eq(nx_semver_cmp_str("1.0.0", "1.0", &e), -2);
    ck_assert_ptr_nonnull(strstr(e.msg, "\"1.0\""));
    e.msg[0] = '\0';
    ck_assert_int_eq(nx_semver_cmp_str("x", "1.0.0", &e), -2);
    ck_assert_ptr_nonnull(strstr(e.msg, "\"x\""));
}
END_TEST

/* ---- strict parsing -------------------------------------------------- */

static const struct {
    const char *s;
    uint64_t major, minor, patch;
    const char *pre, *build;
} valid[] = {
    {"0.0.0", 0, 0, 0, NULL, NULL},
    {"1.2.3", 1, 2, 3, NULL, NULL},
    {"10.20.30", 10, 20, 30, NULL, NULL},
    {"1.1.2-prerelease+meta", 1, 1, 2, "prerelease", "meta"},
    {"1.0.0-alpha", 1, 0, 0, "alpha", NULL},
    {"1.0.0-alpha.1", 1, 0, 0, "alpha.1", NULL},
    {"1.0.0-0.3.7", 1, 0, 0, "0.3.7", NULL},
    {"1.0.0-x.7.z.92", 1, 0, 0, "x.7.z.92", NULL},
    {"1.0.0-x-y-z.--", 1, 0, 0, "x-y-z.--", NULL},
    {"1.0.0--", 1, 0, 0, "-", NULL},
    {"1.0.0-0A.is.legal", 1, 0, 0, "0A.is.legal", NULL},
    {"1.0.0-00a", 1, 0, 0, "00a", NULL},
    {"1.0.0-alpha+001", 1, 0, 0, "alpha", "001"},
    {"1.0.0+20130313144700", 1, 0, 0, NULL, "20130313144700"},
    {"1.0.0-beta+exp.sha.5114f85", 1, 0, 0, "beta", "exp.sha.5114f85"},
    {"1.0.0+21AF26D3----117B344092BD", 1, 0, 0, NULL, "21AF26D3----117B344092BD"},
    {"1.0.0+0.build.1-rc.10000aaa-kk-0.1", 1, 0, 0, NULL, "0.build.1-rc.10000aaa-kk-0.1"},
    {"1.2.3----RC-SNAPSHOT.12.9.1--.12+788", 1, 2, 3, "---RC-SNAPSHOT.12.9.1--.12", "788"},
    {"18446744073709551615.18446744073709551615.18446744073709551615", UINT64_MAX, UINT64_MAX,
     UINT64_MAX, NULL, NULL},
    {"1.0.0-99999999999999999999999", 1, 0, 0, "99999999999999999999999", NULL},
};

static void assert_str_or_null(const char *got, const char *want, const char *what,
                               const char *input)
{
    if (!want) {
        ck_assert_msg(got == NULL, "%s: %s should be NULL, got \"%s\"", input, what, got);
        return;
    }
    ck_assert_msg(got != NULL, "%s: %s is NULL, want \"%s\"", input, what, want);
    ck_assert_msg(strcmp(got, want) == 0, "%s: %s is \"%s\", want \"%s\"", input, what, got,
                  want);
}

START_TEST(test_parse_valid)
{
    for (size_t i = 0; i < N_ELEMS(valid); i++) {
        nx_semver v;
        nx_err e = {{0}};
        int rc = nx_semver_parse(valid[i].s, &v, &e);
        ck_assert_msg(rc == 0, "%s should parse: %s", valid[i].s, e.msg);
        ck_assert_msg(v.major == valid[i].major && v.minor == valid[i].minor &&
                          v.patch == valid[i].patch,
                      "%s: wrong numbers", valid[i].s);
        assert_str_or_null(v.pre, valid[i].pre, "pre", valid[i].s);
        assert_str_or_null(v.build, valid[i].build, "build", valid[i].s);
        nx_semver_free(&v);
        ck_assert_ptr_null(v.pre);
        ck_assert_ptr_null(v.build);
    }
}
END_TEST

/* Each invalid input and a piece of the expected message. */
static const struct {
    const char *s;
    const char *why;
} invalid[] = {
    {"", "empty string"},
    {"01.2.3", "leading zero in MAJOR"},
    {"1.02.3", "leading zero in MINOR"},
    {"1.2.03", "leading zero in PATCH"},
    {"00.0.0", "leading zero in MAJOR"},
    {"v1.2.3", "leading 'v'"},
    {"V1.2.3", "leading 'V'"},
    {" 1.2.3", "leading whitespace"},
    {"1.2.3 ", "trailing whitespace"},
    {"1.2.3\n", "trailing whitespace"},
    {"1.2 .3", "expected '.' after MINOR, found ' ' (space)"},
    {"1.2", "missing PATCH"},
    {"1.2.", "missing PATCH"},
    {"1", "missing MINOR"},
    {"1..3", "MINOR is not a number"},
    {"a.b.c", "MAJOR is not a number (found 'a')"},
    {"-1.2.3", "MAJOR is not a number (found '-')"},
    {"1.a.3", "MINOR is not a number"},
    {"1.2.c", "PATCH is not a number"},
    {"1.2.3.4", "unexpected '.' after PATCH"},
    {"1.2.3x", "unexpected 'x' after PATCH"},
    {"1.2.3-", "empty pre-release after '-'"},
    {"1.2.3-+b", "empty pre-release after '-'"},
    {"1.2.3-alpha..1", "empty pre-release identifier"},
    {"1.2.3-alpha.", "empty pre-release identifier"},
    {"1.2.3-.alpha", "empty pre-release identifier"},
    {"1.2.3+", "empty build metadata after '+'"},
    {"1.2.3+a..b", "empty build metadata identifier"},
    {"1.2.3+a.", "empty build metadata identifier"},
    {"1.2.3-01", "leading zero in numeric pre-release identifier \"01\""},
    {"1.2.3-alpha.00", "leading zero in numeric pre-release identifier \"00\""},
    {"1.2.3-alpha_beta", "invalid character '_' in pre-release"},
    {"1.2.3-alpha beta", "invalid character ' ' (space) in pre-release"},
    {"1.2.3+build!", "invalid character '!' in build metadata"},
    {"1.2.3-rc.1+b+c", "invalid character '+' in build metadata"},
    {"1.2.3-\xc3\xa9", "invalid character byte 0xc3 in pre-release"},
    {"18446744073709551616.0.0", "MAJOR is too large"},
    {"0.18446744073709551616.0", "MINOR is too large"},
    {"0.0.99999999999999999999", "PATCH is too large"},
};

START_TEST(test_parse_invalid)
{
    for (size_t i = 0; i < N_ELEMS(invalid); i++) {
        nx_semver v;
        nx_err e = {{0}};
        int rc = nx_semver_parse(invalid[i].s, &v, &e);
        ck_assert_msg(rc == -1, "\"%s\" should not parse", invalid[i].s);
        ck_assert_msg(strncmp(e.msg, "invalid version \"", 17) == 0, "bad prefix: %s", e.msg);
        ck_assert_msg(strstr(e.msg, invalid[i].why) != NULL, "\"%s\": message \"%s\" lacks \"%s\"",
                      invalid[i].s, e.msg, invalid[i].why);
        ck_assert_msg(strchr(e.msg, '\n') == NULL, "message is not one line: %s", e.msg);
        ck_assert_ptr_null(v.pre);
        ck_assert_ptr_null(v.build);
        nx_semver_free(&v);
    }
}
END_TEST

START_TEST(test_parse_invalid_messages)
{
    nx_semver v;
    nx_err e = {{0}};
    ck_assert_int_eq(nx_semver_parse("01.2.3", &v, &e), -1);
    ck_assert_str_eq(e.msg, "invalid version \"01.2.3\": leading zero in MAJOR");
    ck_assert_int_eq(nx_semver_parse("1.2.3\n", &v, &e), -1);
    ck_assert_str_eq(e.msg, "invalid version \"1.2.3\\n\": trailing whitespace");
    ck_assert_int_eq(nx_semver_parse("1.0.0-rc.01", &v, &e), -1);
    ck_assert_str_eq(e.msg, "invalid version \"1.0.0-rc.01\": leading zero in numeric "
                            "pre-release identifier \"01\"");
    ck_assert_int_eq(nx_semver_parse(NULL, &v, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "NULL"));
    /* A NULL nx_err is tolerated. */
    ck_assert_int_eq(nx_semver_parse("bad", &v, NULL), -1);
}
END_TEST

START_TEST(test_parse_long_input_one_line)
{
    char s[4000];
    memset(s, 'a', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    s[100] = '\n';
    nx_semver v;
    nx_err e = {{0}};
    ck_assert_int_eq(nx_semver_parse(s, &v, &e), -1);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    ck_assert_ptr_nonnull(strstr(e.msg, "...\""));
    ck_assert_ptr_nonnull(strstr(e.msg, "MAJOR is not a number"));
}
END_TEST

/* ---- loose parsing --------------------------------------------------- */

static const struct {
    const char *s;
    uint64_t major, minor, patch;
} loose[] = {
    {"8.2.7-1~deb12u1", 8, 2, 7},
    {"15.18 (Debian 15.18-0+deb12u1)", 15, 18, 0},
    {"10.11.6-MariaDB-0+deb12u1", 10, 11, 6},
    {"12.0", 12, 0, 0},
    {"8", 8, 0, 0},
    {"1.2.3.4", 1, 2, 3},
    {"1.2.", 1, 2, 0},
    {"3.x", 3, 0, 0},
    {"08.01.002", 8, 1, 2},
    {"7.4.33\n", 7, 4, 33},
    {"2.4.57 (Debian)", 2, 4, 57},
    {"1.0.0-rc.1+b5", 1, 0, 0},
};

START_TEST(test_parse_loose)
{
    for (size_t i = 0; i < N_ELEMS(loose); i++) {
        nx_semver v;
        nx_err e = {{0}};
        ck_assert_msg(nx_semver_parse_loose(loose[i].s, &v, &e) == 0, "%s: %s", loose[i].s,
                      e.msg);
        ck_assert_msg(v.major == loose[i].major && v.minor == loose[i].minor &&
                          v.patch == loose[i].patch,
                      "%s: got %llu.%llu.%llu", loose[i].s, (unsigned long long)v.major,
                      (unsigned long long)v.minor, (unsigned long long)v.patch);
        ck_assert_ptr_null(v.pre);
        ck_assert_ptr_null(v.build);
        nx_semver_free(&v);
    }
}
END_TEST

START_TEST(test_parse_loose_invalid)
{
    static const struct {
        const char *s, *why;
    } bad[] = {
        {"", "does not start with a number"},
        {"abc", "does not start with a number"},
        {"v1.2.3", "does not start with a number"},
        {" 1.2.3", "does not start with a number"},
        {"(Debian) 15.18", "does not start with a number"},
        {"99999999999999999999.1", "MAJOR is too large"},
        {"1.99999999999999999999", "MINOR is too large"},
    };
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        nx_semver v;
        nx_err e = {{0}};
        ck_assert_msg(nx_semver_parse_loose(bad[i].s, &v, &e) == -1, "\"%s\" parsed", bad[i].s);
        ck_assert_msg(strstr(e.msg, bad[i].why) != NULL, "\"%s\": %s", bad[i].s, e.msg);
        ck_assert_msg(strstr(e.msg, "invalid version \"") == e.msg, "%s", e.msg);
    }
}
END_TEST

/* ---- version codes --------------------------------------------------- */

static nx_semver mkver(uint64_t major, uint64_t minor, uint64_t patch)
{
    nx_semver v = {major, minor, patch, NULL, NULL};
    return v;
}

START_TEST(test_version_code)
{
    static const struct {
        const char *s;
        uint64_t code;
    } ok[] = {
        {"1.0.0", 1000000},  {"1.5.3", 1005003},        {"2.0.0", 2000000},
        {"0.0.0", 0},        {"0.0.1", 1},              {"1.999.999", 1999999},
        {"12.34.56", 12034056}, {"1.0.0-rc.1+b", 1000000},
    };
    for (size_t i = 0; i < N_ELEMS(ok); i++) {
        nx_semver v;
        nx_err e = {{0}};
        uint64_t code = 42;
        ck_assert_int_eq(nx_semver_parse(ok[i].s, &v, &e), 0);
        ck_assert_msg(nx_version_code(&v, &code, &e) == 0, "%s: %s", ok[i].s, e.msg);
        ck_assert_msg(code == ok[i].code, "%s: code %llu", ok[i].s, (unsigned long long)code);
        nx_semver_free(&v);
    }
}
END_TEST

START_TEST(test_version_code_errors)
{
    nx_err e = {{0}};
    uint64_t code = 7;
    nx_semver v = mkver(1, 1000, 0);
    ck_assert_int_eq(nx_version_code(&v, &code, &e), -1);
    ck_assert_ptr_nonnull(
        strstr(e.msg, "version 1.1000.0 has no version code: MINOR must be below 1000"));
    ck_assert_uint_eq(code, 7);

    v = mkver(1, 0, 1000);
    ck_assert_int_eq(nx_version_code(&v, &code, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "version 1.0.1000"));
    ck_assert_ptr_nonnull(strstr(e.msg, "PATCH must be below 1000"));

    /* UINT64_MAX is 18446744073709551615: 18446744073709.551.615 is the top. */
    v = mkver(18446744073709ULL, 551, 615);
    ck_assert_int_eq(nx_version_code(&v, &code, &e), 0);
    ck_assert_uint_eq(code, UINT64_MAX);
    v = mkver(18446744073709ULL, 551, 616);
    ck_assert_int_eq(nx_version_code(&v, &code, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "version 18446744073709.551.616"));
    ck_assert_ptr_nonnull(strstr(e.msg, "64 bits"));
    v = mkver(UINT64_MAX, 0, 0);
    ck_assert_int_eq(nx_version_code(&v, &code, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "no version code"));
}
END_TEST

/* ---- text ------------------------------------------------------------ */

START_TEST(test_round_trip)
{
    for (size_t i = 0; i < N_ELEMS(valid); i++) {
        nx_semver v;
        nx_err e = {{0}};
        ck_assert_int_eq(nx_semver_parse(valid[i].s, &v, &e), 0);
        char *s = nx_semver_str(&v);
        ck_assert_str_eq(s, valid[i].s);
        free(s);
        nx_semver_free(&v);
    }
    nx_semver v = mkver(4, 5, 6);
    char *s = nx_semver_str(&v);
    ck_assert_str_eq(s, "4.5.6");
    free(s);
    v.build = "b7";
    s = nx_semver_str(&v);
    ck_assert_str_eq(s, "4.5.6+b7");
    free(s);
    v.pre = "rc.1";
    s = nx_semver_str(&v);
    ck_assert_str_eq(s, "4.5.6-rc.1+b7");
    free(s);
}
END_TEST

/* ---- ranges ---------------------------------------------------------- */

static const struct {
    const char *range, *version;
    int match;
} range_cases[] = {
    /* any */
    {"*", "0.0.0", 1},
    {"*", "99.1.2-rc.1", 1},
    {"", "1.2.3", 1},
    {"   ", "1.2.3", 1},
    {"x", "3.0.0", 1},
    /* primitives */
    {">=1.2.0", "1.2.0", 1},
    {">=1.2.0", "1.1.9", 0},
    {">=1.2.0", "1.2.0-rc.1", 0},
    {">1.2", "1.2.0", 0},
    {">1.2", "1.2.1", 1},
    {"<2.0.0", "1.99.99", 1},
    {"<2.0.0", "2.0.0", 0},
    {"<2.0.0", "2.0.0-rc.1", 1}, /* plain precedence: no pre-release exclusion */
    {"<=2", "2.0.0", 1},
    {"<=2", "2.0.1", 0},
    {"<=2", "1.0.0", 1},
    {"=1.2.3", "1.2.3", 1},
    {"=1.2.3", "1.2.3+build.5", 1},
    {"=1.2.3", "1.2.4", 0},
    {"=1.2.3", "1.2.3-rc.1", 0},
    {"=1.2", "1.2.0", 1},
    {"=1.2", "1.2.1", 0},
    /* bare version: at least */
    {"1.2.3", "1.2.3", 1},
    {"1.2.3", "5.0.0", 1},
    {"1.2.3", "1.2.2", 0},
    {"8.1", "8.1.0", 1},
    {"8.1", "8.0.30", 0},
    {"8", "8.3.1", 1},
    {"8", "7.4.33", 0},
    /* AND */
    {">=1.2.0 <2.0.0", "1.2.0", 1},
    {">=1.2.0 <2.0.0", "1.9.9", 1},
    {">=1.2.0 <2.0.0", "2.0.0", 0},
    {">=1.2.0 <2.0.0", "1.1.0", 0},
    {">=1.2.0\t <2.0.0", "1.5.0", 1},
    {">= 1.2.0 < 2.0.0", "1.5.0", 1},
    {">= 1.2.0 < 2.0.0", "2.5.0", 0},
    /* OR */
    {"1.2.3 || 2.0.0", "2.0.0", 1},
    {"<1.0.0 || >=2.0.0", "1.5.0", 0},
    {"<1.0.0 || >=2.0.0", "0.9.0", 1},
    {"<1.0.0 || >=2.0.0", "2.0.0", 1},
    {"<1.0.0||>=2.0.0", "2.0.0", 1},
    {"=1.0.0 || =1.1.0 || =1.2.0", "1.1.0", 1},
    {"=1.0.0 || =1.1.0 || =1.2.0", "1.1.1", 0},
    {">=1 <2 || >=3 <4", "3.5.0", 1},
    {">=1 <2 || >=3 <4", "2.5.0", 0},
    {"* || =9.9.9", "1.0.0", 1},
    /* caret */
    {"^1.2.3", "1.2.3", 1},
    {"^1.2.3", "1.9.0", 1},
    {"^1.2.3", "1.2.2", 0},
    {"^1.2.3", "2.0.0", 0},
    {"^1.2", "1.2.0", 1},
    {"^1.2", "1.99.0", 1},
    {"^1.2", "1.1.9", 0},
    {"^1.2", "2.0.0", 0},
    {"^0.2.3", "0.2.3", 1},
    {"^0.2.3", "0.2.9", 1},
    {"^0.2.3", "0.3.0", 0},
    {"^0.2.3", "0.2.2", 0},
    {"^0.0.3", "0.0.3", 1},
    {"^0.0.3", "0.0.4", 0},
    {"^0.0.3", "0.0.2", 0},
    {"^0", "0.0.0", 1},
    {"^0", "0.99.99", 1},
    {"^0", "1.0.0", 0},
    {"^0.0", "0.0.9", 1},
    {"^0.0", "0.1.0", 0},
    {"^1", "1.5.0", 1},
    {"^1", "2.0.0", 0},
    {"^1.2.x", "1.3.0", 1},
    {"^1.2.x", "1.1.0", 0},
    {"^1.2.3-beta.2", "1.2.3-beta.3", 1},
    {"^1.2.3-beta.2", "1.2.3-beta.1", 0},
    /* tilde */
    {"~1.2.3", "1.2.3", 1},
    {"~1.2.3", "1.2.9", 1},
    {"~1.2.3", "1.3.0", 0},
    {"~1.2.3", "1.2.2", 0},
    {"~1.2", "1.2.0", 1},
    {"~1.2", "1.2.99", 1},
    {"~1.2", "1.3.0", 0},
    {"~1", "1.0.0", 1},
    {"~1", "1.9.9", 1},
    {"~1", "2.0.0", 0},
    {"~0.2.3", "0.2.5", 1},
    {"~0.2.3", "0.3.0", 0},
    /* wildcards */
    {"1.2.x", "1.2.0", 1},
    {"1.2.x", "1.5.0", 1}, /* bare means "at least" */
    {"1.2.x", "1.1.9", 0},
    {"=1.2.x", "1.2.7", 1},
    {"=1.2.x", "1.3.0", 0},
    {"=1.x", "1.9.0", 1},
    {"=1.x", "2.0.0", 0},
    {"=1.2.*", "1.2.3", 1},
    {"=1.X", "0.9.0", 0},
    {"<=1.x", "1.99.0", 1},
    {"<=1.x", "2.0.0", 0},
    {">1.x", "1.99.0", 0},
    {">1.x", "2.0.0", 1},
    {">=1.x", "1.0.0", 1},
    {"<1.x", "0.9.0", 1},
    {"<1.x", "1.0.0", 0},
    {">=*", "0.0.0", 1},
    {"=*", "4.0.0", 1},
    {"^*", "4.0.0", 1},
    /* pre-release in comparators */
    {"<2.0.0-rc.1", "2.0.0-beta.9", 1},
    {"<2.0.0-rc.1", "2.0.0-rc.1", 0},
    {"<2.0.0-rc.1", "2.0.0", 0},
    {">=1.0.0-alpha", "1.0.0-alpha.1", 1},
    {">=1.0.0-alpha", "0.9.0", 0},
    {"=1.0.0-rc.1+build", "1.0.0-rc.1", 1},
};

START_TEST(test_range_match)
{
    for (size_t i = 0; i < N_ELEMS(range_cases); i++) {
        nx_err e = {{0}};
        int m = nx_range_match_str(range_cases[i].range, range_cases[i].version, &e);
        ck_assert_msg(m != -1, "\"%s\" / %s: %s", range_cases[i].range, range_cases[i].version,
                      e.msg);
        ck_assert_msg(m == range_cases[i].match, "\"%s\" should %smatch %s",
                      range_cases[i].range, range_cases[i].match ? "" : "not ",
                      range_cases[i].version);
    }
}
END_TEST

START_TEST(test_range_object)
{
    nx_range *r = NULL;
    nx_err e = {{0}};
    ck_assert_int_eq(nx_range_parse("^1.2 || >=3.0.0-rc.1 <4", &r, &e), 0);
    ck_assert_ptr_nonnull(r);
    static const struct {
        const char *v;
        int m;
    } cases[] = {
        {"1.2.0", 1}, {"1.9.9", 1}, {"2.0.0", 0}, {"3.0.0-rc.0", 0},
        {"3.0.0-rc.1", 1}, {"3.9.0", 1}, {"4.0.0", 0}, {"1.1.0", 0},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        nx_semver v;
        ck_assert_int_eq(nx_semver_parse(cases[i].v, &v, &e), 0);
        ck_assert_msg(nx_range_match(r, &v) == cases[i].m, "%s", cases[i].v);
        nx_semver_free(&v);
    }
    /* Loosely parsed system versions work the same. */
    nx_semver v;
    ck_assert_int_eq(nx_semver_parse_loose("1.4 (Debian)", &v, &e), 0);
    ck_assert_int_eq(nx_range_match(r, &v), 1);
    ck_assert_int_eq(nx_range_match(NULL, &v), 0);
    nx_range_free(r);
    nx_range_free(NULL);
}
END_TEST

static const struct {
    const char *range, *why;
} bad_ranges[] = {
    {">=1.2.0 <<2", "invalid version range \">=1.2.0 <<2\": bad comparator \"<<2\""},
    {">=1.2.0 <<2", "MAJOR is not a number (found '<')"},
    {"1.2.3 ||", "empty alternative"},
    {"|| 1.2.3", "empty alternative"},
    {"1 |||| 2", "empty alternative"},
    {"1 | 2", "bad comparator \"|\""},
    {">=01.2", "bad comparator \">=01.2\": leading zero in MAJOR"},
    {"^1.2.3.4", "bad comparator \"^1.2.3.4\": unexpected '.' after PATCH"},
    {"~abc", "bad comparator \"~abc\""},
    {">=", "bad comparator \">=\": missing version"},
    {">=1 <", "bad comparator \"<\": missing version"},
    {"=>1.0.0", "bad comparator \"=>1.0.0\""},
    {"==1.0.0", "bad comparator \"==1.0.0\""},
    {"!=1.0.0", "bad comparator \"!=1.0.0\""},
    {">=1.2-rc.1", "needs a full MAJOR.MINOR.PATCH"},
    {"1.2.3-", "empty pre-release"},
    {"<2.0.0-rc.01", "leading zero in numeric pre-release identifier"},
    {"1.x.3", "PATCH must be a wildcard"},
    {"x.1", "MINOR must be a wildcard"},
    {">*", "bad comparator \">*\""},
    {"<x", "bad comparator \"<x\""},
    {"1.2.3 - 2.0.0", "bad comparator \"-\""},
    {"v1.2.3", "bad comparator \"v1.2.3\""},
    {"1.2.", "missing PATCH"},
    {">=1.0.0,<2.0.0", "bad comparator \">=1.0.0,<2.0.0\": unexpected ',' after PATCH"},
    {">=1.2.3a", "unexpected 'a' after PATCH"},
    {"^18446744073709551615", "MAJOR is too large for an upper bound"},
    {"=18446744073709551616", "MAJOR is too large (does not fit"},
    {">=1 \"<2\n\"", "bad comparator \"\\\"<2\""},
};

START_TEST(test_range_invalid)
{
    for (size_t i = 0; i < N_ELEMS(bad_ranges); i++) {
        nx_range *r = (nx_range *)&r; /* must be reset to NULL */
        nx_err e = {{0}};
        ck_assert_msg(nx_range_parse(bad_ranges[i].range, &r, &e) == -1, "\"%s\" parsed",
                      bad_ranges[i].range);
        ck_assert_ptr_null(r);
        ck_assert_msg(strstr(e.msg, "invalid version range \"") == e.msg, "%s", e.msg);
        ck_assert_msg(strstr(e.msg, bad_ranges[i].why) != NULL, "\"%s\": \"%s\" lacks \"%s\"",
                      bad_ranges[i].range, e.msg, bad_ranges[i].why);
        ck_assert_msg(strchr(e.msg, '\n') == NULL, "not one line: %s", e.msg);
    }
}
END_TEST

START_TEST(test_range_match_str_errors)
{
    nx_err e = {{0}};
    ck_assert_int_eq(nx_range_match_str(">=1.0.0", "1.0", &e), -1);
    ck_assert_str_eq(e.msg, "invalid version \"1.0\": missing PATCH");
    ck_assert_int_eq(nx_range_match_str(">=1.0.0 <<2", "1.0.0", &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "bad comparator \"<<2\""));
    ck_assert_int_eq(nx_range_parse(NULL, &(nx_range *){NULL}, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "NULL"));
}
END_TEST

START_TEST(test_channels)
{
    static const struct { const char *v, *ch; } cases[] = {
        { "1.8.0", "stable" }, { "1.9.0-rc.1", "rc" }, { "1.9.0-RC2", "rc" },
        { "1.9.0-rc", "rc" }, { "2.0.0-beta.2", "beta" }, { "2.0.0-beta", "beta" },
        { "2.0.0-alpha", "alpha" }, { "2.0.0-alpha.1+b7", "alpha" },
        { "2.2.0-dev.3", "alpha" }, { "2.2.0-preview", "alpha" }, { "2.2.0-rcx", "alpha" },
        { "2.2.0-0.3", "alpha" }, { "1.0.0+build.5", "stable" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ck_assert_msg(strcmp(nx_version_channel(cases[i].v), cases[i].ch) == 0, "%s: %s, not %s",
                      cases[i].v, nx_version_channel(cases[i].v), cases[i].ch);
    ck_assert_ptr_null(nx_version_channel("1.2"));
    /* site channel x release channel */
    static const char *const ch[] = { "stable", "rc", "beta", "alpha" };
    static const int admits[4][4] = { { 1, 0, 0, 0 }, { 1, 1, 0, 0 }, { 1, 1, 1, 0 },
                                      { 1, 1, 1, 1 } };
    for (int s = 0; s < 4; s++)
        for (int r = 0; r < 4; r++)
            ck_assert_msg(nx_channel_admits(ch[s], ch[r]) == admits[s][r], "site %s, release %s",
                          ch[s], ch[r]);
    ck_assert_int_eq(nx_channel_admits(NULL, "stable"), 1);
    ck_assert_int_eq(nx_channel_admits(NULL, "rc"), 0);
    ck_assert_int_eq(nx_channel_admits("nightly", "rc"), 0);
}
END_TEST

static Suite *semver_suite(void)
{
    Suite *s = suite_create("semver");
    TCase *tc = tcase_create("order");
    tcase_add_test(tc, test_spec_order_pairwise);
    tcase_add_test(tc, test_more_order);
    tcase_add_test(tc, test_build_ignored);
    tcase_add_test(tc, test_cmp_str_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_valid);
    tcase_add_test(tc, test_parse_invalid);
    tcase_add_test(tc, test_parse_invalid_messages);
    tcase_add_test(tc, test_parse_long_input_one_line);
    tcase_add_test(tc, test_parse_loose);
    tcase_add_test(tc, test_parse_loose_invalid);
    tcase_add_test(tc, test_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("code");
    tcase_add_test(tc, test_version_code);
    tcase_add_test(tc, test_version_code_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("range");
    tcase_add_test(tc, test_range_match);
    tcase_add_test(tc, test_range_object);
    tcase_add_test(tc, test_range_invalid);
    tcase_add_test(tc, test_range_match_str_errors);
    tcase_add_test(tc, test_channels);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(semver_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
