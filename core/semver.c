/* SemVer 2.0.0 versions, version codes and version ranges.
 *
 * Error messages: the inner parsers write a bare reason ("leading zero in
 * MAJOR"); the public entry points prefix it with the input string, quoted
 * and escaped so that the message stays on one line. */
#include "semver.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Room for a quoted, escaped and possibly shortened input in a message. */
#define QBUF 256

static const char *const part_name[3] = {"MAJOR", "MINOR", "PATCH"};

/* ---- characters ------------------------------------------------------ */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* [0-9A-Za-z-], ASCII only (no locale). */
static int is_ident_char(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
}

static const char *char_desc(char c, char *buf, size_t n)
{
    unsigned char u = (unsigned char)c;
    if (c == '\0')
        snprintf(buf, n, "end of string");
    else if (c == ' ')
        snprintf(buf, n, "' ' (space)");
    else if (u > 0x20 && u < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", u);
    return buf;
}

static size_t escape_char(unsigned char u, char *out)
{
    switch (u) {
    case '"': memcpy(out, "\\\"", 2); return 2;
    case '\\': memcpy(out, "\\\\", 2); return 2;
    case '\n': memcpy(out, "\\n", 2); return 2;
    case '\t': memcpy(out, "\\t", 2); return 2;
    case '\r': memcpy(out, "\\r", 2); return 2;
    default: break;
    }
    if (u < 0x20 || u >= 0x7f) {
        snprintf(out, 5, "\\x%02x", u);
        return 4;
    }
    out[0] = (char)u;
    return 1;
}

/* "text" with C-like escapes, shortened with "..." to fit buf. */
static const char *quote_n(const char *s, size_t len, char *buf, size_t size)
{
    size_t o = 0, i = 0;
    buf[o++] = '"';
    for (; i < len && o + 10 <= size; i++)
        o += escape_char((unsigned char)s[i], buf + o);
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static const char *quote(const char *s, char *buf, size_t size)
{
    return quote_n(s, strlen(s), buf, size);
}

/* ---- numbers and identifiers ---------------------------------------- */

/* Decimal digits at *pp into *out; strict rejects leading zeros. */
static int parse_num(const char **pp, const char *name, int strict, uint64_t *out, nx_err *e)
{
    const char *p = *pp;
    char cd[32];
    if (!is_digit(*p)) {
        if (*p == '\0')
            nx_seterr(e, "missing %s", name);
        else
            nx_seterr(e, "%s is not a number (found %s)", name, char_desc(*p, cd, sizeof cd));
        return -1;
    }
    if (strict && p[0] == '0' && is_digit(p[1])) {
        nx_seterr(e, "leading zero in %s", name);
        return -1;
    }
    uint64_t v = 0;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            nx_seterr(e, "%s is too large (does not fit in 64 bits)", name);
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    *pp = p;
    return 0;
}

static int expect_dot(const char **pp, int next, nx_err *e)
{
    char cd[32];
    if (**pp == '.') {
        (*pp)++;
        return 0;
    }
    if (**pp == '\0')
        nx_seterr(e, "missing %s", part_name[next]);
    else
        nx_seterr(e, "expected '.' after %s, found %s", part_name[next - 1],
                  char_desc(**pp, cd, sizeof cd));
    return -1;
}

static int all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return 0;
    }
    return n > 0;
}

static int check_ident(const char *p, size_t n, int pre, const char *what, nx_err *e)
{
    char cd[32];
    if (n == 0) {
        nx_seterr(e, "empty %s identifier", what);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_ident_char(p[i])) {
            nx_seterr(e, "invalid character %s in %s", char_desc(p[i], cd, sizeof cd), what);
            return -1;
        }
    }
    if (pre && n > 1 && p[0] == '0' && all_digits(p, n)) {
        nx_seterr(e, "leading zero in numeric %s identifier \"%.*s\"", what, (int)n, p);
        return -1;
    }
    return 0;
}

/* Dot-separated identifiers p[0..n); pre adds the numeric leading-zero rule. */
static int check_idents(const char *p, size_t n, int pre, nx_err *e)
{
    const char *what = pre ? "pre-release" : "build metadata";
    if (n == 0) {
        nx_seterr(e, "empty %s after '%c'", what, pre ? '-' : '+');
        return -1;
    }
    size_t i = 0;
    for (;;) {
        size_t len = 0;
        while (i + len < n && p[i + len] != '.')
            len++;
        if (check_ident(p + i, len, pre, what, e) != 0)
            return -1;
        i += len;
        if (i == n)
            return 0;
        i++; /* the dot; an identifier must follow */
    }
}

/* ---- strict parsing -------------------------------------------------- */

static int parse_core(const char **pp, nx_semver *v, nx_err *e)
{
    if (parse_num(pp, "MAJOR", 1, &v->major, e) != 0 || expect_dot(pp, 1, e) != 0 ||
        parse_num(pp, "MINOR", 1, &v->minor, e) != 0 || expect_dot(pp, 2, e) != 0 ||
        parse_num(pp, "PATCH", 1, &v->patch, e) != 0)
        return -1;
    return 0;
}

/* Optional "-pre" and "+build": pre-release runs to '+' or the end, build
 * metadata to the end. */
static int parse_tail(const char **pp, nx_semver *v, nx_err *e)
{
    const char *p = *pp;
    if (*p == '-') {
        size_t n = strcspn(p + 1, "+");
        if (check_idents(p + 1, n, 1, e) != 0)
            return -1;
        v->pre = nx_xstrndup(p + 1, n);
        p += 1 + n;
    }
    if (*p == '+') {
        size_t n = strlen(p + 1);
        if (check_idents(p + 1, n, 0, e) != 0)
            return -1;
        v->build = nx_xstrndup(p + 1, n);
        p += 1 + n;
    }
    *pp = p;
    return 0;
}

static int check_shape(const char *s, nx_err *e)
{
    size_t n = strlen(s);
    if (n == 0)
        nx_seterr(e, "empty string");
    else if (is_space(s[0]))
        nx_seterr(e, "leading whitespace");
    else if (is_space(s[n - 1]))
        nx_seterr(e, "trailing whitespace");
    else if ((s[0] == 'v' || s[0] == 'V') && is_digit(s[1]))
        nx_seterr(e, "leading '%c' is not part of a SemVer version", s[0]);
    else
        return 0;
    return -1;
}

static int parse_strict(const char *s, nx_semver *v, nx_err *e)
{
    const char *p = s;
    char cd[32];
    if (check_shape(s, e) != 0 || parse_core(&p, v, e) != 0)
        return -1;
    if (*p != '-' && *p != '+' && *p != '\0') {
        nx_seterr(e, "unexpected %s after PATCH", char_desc(*p, cd, sizeof cd));
        return -1;
    }
    return parse_tail(&p, v, e);
}

int nx_semver_parse(const char *s, nx_semver *out, nx_err *e)
{
    char q[QBUF];
    memset(out, 0, sizeof *out);
    if (!s) {
        nx_seterr(e, "invalid version: no string (NULL)");
        return -1;
    }
    if (parse_strict(s, out, e) != 0) {
        nx_semver_free(out);
        nx_preferr(e, "invalid version %s", quote(s, q, sizeof q));
        return -1;
    }
    return 0;
}

int nx_semver_parse_loose(const char *s, nx_semver *out, nx_err *e)
{
    char q[QBUF];
    uint64_t *num[3] = {&out->major, &out->minor, &out->patch};
    memset(out, 0, sizeof *out);
    if (!s) {
        nx_seterr(e, "invalid version: no string (NULL)");
        return -1;
    }
    if (!is_digit(s[0])) {
        nx_seterr(e, "invalid version %s: does not start with a number", quote(s, q, sizeof q));
        return -1;
    }
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        if (parse_num(&p, part_name[i], 0, num[i], e) != 0) {
            nx_preferr(e, "invalid version %s", quote(s, q, sizeof q));
            return -1;
        }
        if (p[0] != '.' || !is_digit(p[1]))
            break;
        p++;
    }
    return 0;
}

void nx_semver_free(nx_semver *v)
{
    if (!v)
        return;
    free(v->pre);
    free(v->build);
    v->pre = NULL;
    v->build = NULL;
}

/* ---- precedence ------------------------------------------------------ */

static int sign_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

static int sign_size(size_t a, size_t b)
{
    return (a > b) - (a < b);
}

/* Numeric identifiers of any length: without leading zeros, the longer one
 * is larger; equal lengths compare digit by digit. */
static int cmp_numeric(const char *a, size_t la, const char *b, size_t lb)
{
    while (la > 1 && *a == '0') {
        a++;
        la--;
    }
    while (lb > 1 && *b == '0') {
        b++;
        lb--;
    }
    if (la != lb)
        return sign_size(la, lb);
    int c = memcmp(a, b, la);
    return (c > 0) - (c < 0);
}

/* Alphanumeric identifiers: ASCII order, a prefix sorts first. */
static int cmp_lexical(const char *a, size_t la, const char *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c != 0)
        return (c > 0) - (c < 0);
    return sign_size(la, lb);
}

static int cmp_ident(const char *a, size_t la, const char *b, size_t lb)
{
    int na = all_digits(a, la), nb = all_digits(b, lb);
    if (na && nb)
        return cmp_numeric(a, la, b, lb);
    if (na != nb)
        return na ? -1 : 1; /* numeric < alphanumeric */
    return cmp_lexical(a, la, b, lb);
}

static int cmp_pre(const char *a, const char *b)
{
    if (a && !*a)
        a = NULL;
    if (b && !*b)
        b = NULL;
    if (!a || !b)
        return (!a) - (!b); /* a release ranks above any pre-release */
    for (;;) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        int c = cmp_ident(a, la, b, lb);
        if (c != 0)
            return c;
        a += la;
        b += lb;
        if (*a == '\0' || *b == '\0')
            return (*a != '\0') - (*b != '\0'); /* more fields rank higher */
        a++;
        b++;
    }
}

int nx_semver_cmp(const nx_semver *a, const nx_semver *b)
{
    int c = sign_u64(a->major, b->major);
    if (c == 0)
        c = sign_u64(a->minor, b->minor);
    if (c == 0)
        c = sign_u64(a->patch, b->patch);
    if (c == 0)
        c = cmp_pre(a->pre, b->pre);
    return (c > 0) - (c < 0); /* -1, 0, 1: nx_semver_cmp_str's -2 stays apart */
}

int nx_semver_cmp_str(const char *a, const char *b, nx_err *e)
{
    nx_semver va, vb;
    if (nx_semver_parse(a, &va, e) != 0)
        return -2;
    if (nx_semver_parse(b, &vb, e) != 0) {
        nx_semver_free(&va);
        return -2;
    }
    int c = nx_semver_cmp(&va, &vb);
    nx_semver_free(&va);
    nx_semver_free(&vb);
    return c;
}

/* ---- version codes and text ----------------------------------------- */

static int code_err(const nx_semver *v, const char *why, nx_err *e)
{
    char *s = nx_semver_str(v);
    nx_seterr(e, "version %s has no version code: %s", s, why);
    free(s);
    return -1;
}

/* Pre-release and build metadata do not enter the code. */
int nx_version_code(const nx_semver *v, uint64_t *code, nx_err *e)
{
    if (v->minor >= 1000)
        return code_err(v, "MINOR must be below 1000", e);
    if (v->patch >= 1000)
        return code_err(v, "PATCH must be below 1000", e);
    uint64_t low = v->minor * 1000 + v->patch;
    if (v->major > (UINT64_MAX - low) / 1000000)
        return code_err(v, "MAJOR is too large (the code would not fit in 64 bits)", e);
    *code = v->major * 1000000 + low;
    return 0;
}

char *nx_semver_str(const nx_semver *v)
{
    return nx_xasprintf("%" PRIu64 ".%" PRIu64 ".%" PRIu64 "%s%s%s%s", v->major, v->minor,
                        v->patch, v->pre ? "-" : "", v->pre ? v->pre : "",
                        v->build ? "+" : "", v->build ? v->build : "");
}

/* ---- ranges ---------------------------------------------------------- *
 *
 * A parsed range is an OR of sets; a set is an AND of primitive
 * comparators (=, >, >=, <, <=); an empty set matches everything. Caret,
 * tilde and wildcards are rewritten into primitives when parsing.
 *
 * Partial versions: a missing part is 0 ("<=2" is "<=2.0.0", "=1.2" is
 * "=1.2.0"), while a wildcard part ("1.2.x", "1.x", "1.2.*") stands for
 * any value ("=1.2.x" is ">=1.2.0 <1.3.0", "<=1.x" is "<2.0.0", ">1.x" is
 * ">=2.0.0"). A bare version means "at least".
 *
 * Matching uses plain SemVer precedence: pre-release versions are NOT
 * excluded specially (unlike npm), so "<2.0.0" and "^1.2.3" both accept
 * 2.0.0-rc.1, which ranks below 2.0.0. */

enum nx_op { OP_NONE, OP_EQ, OP_GT, OP_GE, OP_LT, OP_LE, OP_CARET, OP_TILDE };

struct nx_cmp {
    enum nx_op op; /* OP_EQ, OP_GT, OP_GE, OP_LT or OP_LE */
    nx_semver v;
};

struct nx_set {
    struct nx_cmp *c;
    size_t n;
};

struct nx_range {
    struct nx_set *sets;
    size_t n;
};

/* A version in a comparator: n numeric parts given (0..3), the rest are 0;
 * wild is set when the parts after them were wildcards. */
struct partial {
    nx_semver lo;
    int n;
    int wild;
};

static const struct {
    const char *text;
    enum nx_op op;
} op_table[] = {
    {">=", OP_GE}, {"<=", OP_LE}, {">", OP_GT}, {"<", OP_LT},
    {"=", OP_EQ},  {"^", OP_CARET}, {"~", OP_TILDE},
};

static size_t parse_op(const char *p, size_t n, enum nx_op *op)
{
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++) {
        size_t l = strlen(op_table[i].text);
        if (l <= n && memcmp(p, op_table[i].text, l) == 0) {
            *op = op_table[i].op;
            return l;
        }
    }
    *op = OP_NONE;
    return 0;
}

static int is_wild(char c)
{
    return c == 'x' || c == 'X' || c == '*';
}

static int partial_part(const char **pp, int i, struct partial *pt, nx_err *e)
{
    uint64_t *num[3] = {&pt->lo.major, &pt->lo.minor, &pt->lo.patch};
    if (is_wild(**pp)) {
        (*pp)++;
        pt->wild = 1;
        return 0;
    }
    if (pt->wild) {
        nx_seterr(e, "%s must be a wildcard after a wildcard", part_name[i]);
        return -1;
    }
    if (parse_num(pp, part_name[i], 1, num[i], e) != 0)
        return -1;
    pt->n++;
    return 0;
}

static int parse_partial(const char *s, struct partial *pt, nx_err *e)
{
    const char *p = s;
    char cd[32];
    int i = 0;
    for (;; i++) {
        if (partial_part(&p, i, pt, e) != 0)
            return -1;
        if (*p != '.' || i == 2)
            break;
        p++;
    }
    if ((*p == '-' || *p == '+') && pt->n < 3) {
        nx_seterr(e, "pre-release or build metadata needs a full MAJOR.MINOR.PATCH");
        return -1;
    }
    if (parse_tail(&p, &pt->lo, e) != 0)
        return -1;
    if (*p != '\0') {
        nx_seterr(e, "unexpected %s after %s", char_desc(*p, cd, sizeof cd), part_name[i]);
        return -1;
    }
    return 0;
}

static void push(struct nx_set *set, enum nx_op op, nx_semver v)
{
    set->c = nx_xrealloc(set->c, (set->n + 1) * sizeof *set->c);
    set->c[set->n].op = op;
    set->c[set->n].v = v;
    set->n++;
}

/* Moves the lower bound (and its pre-release) into the set. */
static void push_lo(struct nx_set *set, enum nx_op op, struct partial *pt)
{
    push(set, op, pt->lo);
    pt->lo.pre = NULL;
    pt->lo.build = NULL;
}

/* The smallest version above every version that agrees with lo on the
 * parts up to idx: part idx plus one, later parts 0. */
static int bump(const struct partial *pt, int idx, nx_semver *out, nx_err *e)
{
    uint64_t num[3] = {pt->lo.major, pt->lo.minor, pt->lo.patch};
    if (num[idx] == UINT64_MAX) {
        nx_seterr(e, "%s is too large for an upper bound", part_name[idx]);
        return -1;
    }
    num[idx]++;
    for (int i = idx + 1; i < 3; i++)
        num[i] = 0;
    memset(out, 0, sizeof *out);
    out->major = num[0];
    out->minor = num[1];
    out->patch = num[2];
    return 0;
}

static int push_upper(struct nx_set *set, enum nx_op op, const struct partial *pt, int idx,
                      nx_err *e)
{
    nx_semver up;
    if (bump(pt, idx, &up, e) != 0)
        return -1;
    push(set, op, up);
    return 0;
}

/* ">=lo <bump(idx)" */
static int push_span(struct nx_set *set, struct partial *pt, int idx, nx_err *e)
{
    if (push_upper(set, OP_LT, pt, idx, e) != 0)
        return -1;
    push_lo(set, OP_GE, pt);
    return 0;
}

/* ^: the first non-zero given part may not change (the last given part
 * when all are zero). */
static int caret_idx(const struct partial *pt)
{
    uint64_t num[3] = {pt->lo.major, pt->lo.minor, pt->lo.patch};
    for (int i = 0; i < pt->n; i++) {
        if (num[i] > 0)
            return i;
    }
    return pt->n - 1;
}

static int desugar(enum nx_op op, struct partial *pt, struct nx_set *set, nx_err *e)
{
    int last = pt->n - 1;
    switch (op) {
    case OP_NONE:
    case OP_GE: push_lo(set, OP_GE, pt); return 0;
    case OP_LT: push_lo(set, OP_LT, pt); return 0;
    case OP_GT:
        if (pt->wild)
            return push_upper(set, OP_GE, pt, last, e);
        push_lo(set, OP_GT, pt);
        return 0;
    case OP_LE:
        if (pt->wild)
            return push_upper(set, OP_LT, pt, last, e);
        push_lo(set, OP_LE, pt);
        return 0;
    case OP_EQ:
        if (pt->wild)
            return push_span(set, pt, last, e);
        push_lo(set, OP_EQ, pt);
        return 0;
    case OP_CARET: return push_span(set, pt, caret_idx(pt), e);
    case OP_TILDE: return push_span(set, pt, pt->n >= 2 ? 1 : 0, e);
    }
    return -1;
}

static int add_comparator(enum nx_op op, const char *ver, size_t len, struct nx_set *set,
                          nx_err *e)
{
    if (len == 0) {
        nx_seterr(e, "missing version after the operator");
        return -1;
    }
    struct partial pt;
    memset(&pt, 0, sizeof pt);
    char *txt = nx_xstrndup(ver, len);
    int rc = parse_partial(txt, &pt, e);
    free(txt);
    if (rc == 0 && pt.n == 0 && (op == OP_GT || op == OP_LT)) {
        nx_seterr(e, "a bare wildcard cannot follow '%c'", op == OP_GT ? '>' : '<');
        rc = -1;
    } else if (rc == 0 && pt.n > 0) {
        rc = desugar(op, &pt, set, e); /* pt.n == 0 is "*": no constraint */
    }
    nx_semver_free(&pt.lo);
    return rc;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && is_space(*p))
        p++;
    return p;
}

static const char *tok_end(const char *p, const char *end)
{
    while (p < end && !is_space(*p))
        p++;
    return p;
}

/* One comparator starting at *pp; an operator alone takes the next word
 * as its version (">= 1.2"). */
static int parse_token(const char *rs, const char **pp, const char *end, struct nx_set *set,
                       nx_err *e)
{
    const char *t = *pp, *p = tok_end(*pp, end);
    enum nx_op op;
    const char *ver = t + parse_op(t, (size_t)(p - t), &op);
    if (ver == p && skip_ws(p, end) != end) {
        ver = skip_ws(p, end);
        p = tok_end(ver, end);
    }
    *pp = p;
    if (add_comparator(op, ver, (size_t)(p - ver), set, e) != 0) {
        char qr[QBUF], qt[QBUF];
        nx_preferr(e, "invalid version range %s: bad comparator %s", quote(rs, qr, sizeof qr),
                   quote_n(t, (size_t)(p - t), qt, sizeof qt));
        return -1;
    }
    return 0;
}

/* The AND-set in [p, end) of range string rs. */
static int parse_set(const char *rs, const char *p, const char *end, int alone,
                     struct nx_set *set, nx_err *e)
{
    char qr[QBUF];
    int ntok = 0;
    for (p = skip_ws(p, end); p < end; p = skip_ws(p, end)) {
        if (parse_token(rs, &p, end, set, e) != 0)
            return -1;
        ntok++;
    }
    if (ntok == 0 && !alone) {
        nx_seterr(e, "invalid version range %s: empty alternative next to \"||\"",
                  quote(rs, qr, sizeof qr));
        return -1;
    }
    return 0;
}

int nx_range_parse(const char *s, nx_range **out, nx_err *e)
{
    *out = NULL;
    if (!s) {
        nx_seterr(e, "invalid version range: no string (NULL)");
        return -1;
    }
    nx_range *r = nx_xcalloc(1, sizeof *r);
    int alone = strstr(s, "||") == NULL;
    const char *p = s;
    for (;;) {
        const char *bar = strstr(p, "||");
        const char *end = bar ? bar : p + strlen(p);
        r->sets = nx_xrealloc(r->sets, (r->n + 1) * sizeof *r->sets);
        memset(&r->sets[r->n], 0, sizeof r->sets[r->n]);
        r->n++;
        if (parse_set(s, p, end, alone, &r->sets[r->n - 1], e) != 0) {
            nx_range_free(r);
            return -1;
        }
        if (!bar)
            break;
        p = bar + 2;
    }
    *out = r;
    return 0;
}

void nx_range_free(nx_range *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        for (size_t j = 0; j < r->sets[i].n; j++)
            nx_semver_free(&r->sets[i].c[j].v);
        free(r->sets[i].c);
    }
    free(r->sets);
    free(r);
}

static int cmp_holds(const struct nx_cmp *c, const nx_semver *v)
{
    int d = nx_semver_cmp(v, &c->v);
    switch (c->op) {
    case OP_EQ: return d == 0;
    case OP_GT: return d > 0;
    case OP_GE: return d >= 0;
    case OP_LT: return d < 0;
    case OP_LE: return d <= 0;
    default: return 0;
    }
}

static int set_holds(const struct nx_set *set, const nx_semver *v)
{
    for (size_t i = 0; i < set->n; i++) {
        if (!cmp_holds(&set->c[i], v))
            return 0;
    }
    return 1;
}

int nx_range_match(const nx_range *r, const nx_semver *v)
{
    if (!r || !v)
        return 0;
    for (size_t i = 0; i < r->n; i++) {
        if (set_holds(&r->sets[i], v))
            return 1;
    }
    return 0;
}

int nx_range_match_str(const char *range, const char *version, nx_err *e)
{
    nx_range *r;
    nx_semver v;
    if (nx_range_parse(range, &r, e) != 0)
        return -1;
    if (nx_semver_parse(version, &v, e) != 0) {
        nx_range_free(r);
        return -1;
    }
    int m = nx_range_match(r, &v);
    nx_semver_free(&v);
    nx_range_free(r);
    return m;
}

/* ---- channels ------------------------------------------------------------ */

static int channel_rank(const char *ch)
{
    static const char *const order[] = { "stable", "rc", "beta", "alpha" };
    for (int i = 0; ch && i < 4; i++)
        if (strcmp(ch, order[i]) == 0)
            return i;
    return -1;
}

const char *nx_semver_channel(const nx_semver *v)
{
    if (!v->pre || !*v->pre)
        return "stable";
    size_t n = strcspn(v->pre, ".");
    while (n > 0 && v->pre[n - 1] >= '0' && v->pre[n - 1] <= '9')
        n--;
    if (n == 2 && strncasecmp(v->pre, "rc", 2) == 0)
        return "rc";
    if (n == 4 && strncasecmp(v->pre, "beta", 4) == 0)
        return "beta";
    return "alpha"; /* "alpha" and every tag that is none of these */
}

const char *nx_version_channel(const char *version)
{
    nx_semver v;
    nx_err e;
    if (!version || nx_semver_parse(version, &v, &e) != 0)
        return NULL;
    const char *ch = nx_semver_channel(&v);
    nx_semver_free(&v);
    return ch;
}

int nx_channel_admits(const char *site, const char *channel)
{
    int s = channel_rank(site ? site : "stable"), c = channel_rank(channel);
    if (s < 0)
        s = 0;
    return c >= 0 && c <= s;
}
