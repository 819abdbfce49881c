#include "inifile.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values of lines too long for inih's buffer travel on the side: the line
 * handed to inih carries "\x1e<index>" in place of the value. */
#define LONG_MARK '\x1e'

struct reader {
    FILE *fp;
    const char *path;
    int lineno;
    int cont;          /* the line just read is an indented continuation */
    int has_prev;      /* a key was read since the last section header */
    char *last;        /* getline buffer */
    size_t lastcap;
    char **longvals;
    size_t nlong;
    nx_ini_fn fn;
    void *user;
    char section[256];
    int failed;
    nx_err *e;
};

static void fail_at(struct reader *r, const char *what)
{
    if (r->failed)
        return;
    r->failed = 1;
    nx_seterr(r->e, "%s:%d: %.*s", r->path, r->lineno, NX_ERRLEN / 2, what);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* inih's inline comment rule: ';' preceded by whitespace. */
static void strip_inline_comment(char *s)
{
    for (char *p = s; *p; p++) {
        if (*p == ';' && p > s && isspace((unsigned char)p[-1])) {
            *p = '\0';
            return;
        }
    }
}

static int section_line(struct reader *r, const char *s)
{
    const char *end = strchr(s, ']');
    if (!end) {
        fail_at(r, "section header without ']'");
        return -1;
    }
    size_t n = (size_t)(end - s - 1);
    if (n == 0 || n >= sizeof r->section) {
        fail_at(r, n ? "section name too long" : "empty section name");
        return -1;
    }
    memcpy(r->section, s + 1, n);
    r->section[n] = '\0';
    char *name = trim(r->section);
    memmove(r->section, name, strlen(name) + 1);
    nx_err sub;
    if (r->fn(r->user, r->section, NULL, NULL, r->lineno, 0, &sub) != 0) {
        fail_at(r, sub.msg);
        return -1;
    }
    return 0;
}

/* inih's own longest key name (MAX_NAME 50 with the NUL). */
#define INIH_MAX_NAME 49

enum kind { L_BLANK, L_COMMENT, L_CONT, L_SECTION, L_KEY, L_BAD };

/* Classify a line the way inih r55 does, in its order: comment,
 * continuation (an indented line after a key), section, key. */
static enum kind classify(const struct reader *r, const char *s)
{
    const char *t = s;
    while (isspace((unsigned char)*t))
        t++;
    if (!*t)
        return L_BLANK;
    if (*t == ';' || *t == '#')
        return L_COMMENT;
    if (r->has_prev && t > s)
        return L_CONT;
    if (*t == '[')
        return L_SECTION;
    for (const char *p = t; *p; p++) {
        if (*p == '=' || *p == ':')
            return L_KEY;
        if (*p == ';' && p > t && isspace((unsigned char)p[-1]))
            break;
    }
    return L_BAD;
}

/* Keep a value on the side and hand inih "<prefix>\x1eN". */
static void side_value(struct reader *r, char *val, char *out, int num, const char *prefix,
                       int prefix_len)
{
    strip_inline_comment(val);
    val = trim(val);
    r->longvals = nx_xrealloc(r->longvals, (r->nlong + 1) * sizeof *r->longvals);
    r->longvals[r->nlong] = nx_xstrdup(val);
    snprintf(out, (size_t)num, "%.*s%c%zu\n", prefix_len, prefix, LONG_MARK, r->nlong);
    r->nlong++;
}

static int key_line(struct reader *r, char *s, char *str, int num, size_t n)
{
    char *t = s;
    while (isspace((unsigned char)*t))
        t++;
    char *sep = strpbrk(t, "=:");
    size_t klen = (size_t)(sep - t);
    while (klen > 0 && isspace((unsigned char)t[klen - 1]))
        klen--;
    if (klen > INIH_MAX_NAME) {
        fail_at(r, "key name longer than 49 characters");
        return -1;
    }
    r->has_prev = 1;
    if (n + 1 < (size_t)num) {
        memcpy(str, s, n + 1);
        return 0;
    }
    char prefix[64];
    int plen = snprintf(prefix, sizeof prefix, "%.*s= ", (int)klen, t);
    side_value(r, sep + 1, str, num, prefix, plen);
    return 0;
}

static char *reader_fn(char *str, int num, void *stream)
{
    struct reader *r = stream;
    if (r->failed)
        return NULL;
    ssize_t n = getline(&r->last, &r->lastcap, r->fp);
    if (n < 0)
        return NULL;
    r->lineno++;
    char *s = r->last;
    if (memchr(s, LONG_MARK, (size_t)n) || memchr(s, '\0', (size_t)n)) {
        fail_at(r, "control character in line");
        return NULL;
    }
    if (r->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    r->cont = 0;
    switch (classify(r, s)) {
    case L_BLANK:
    case L_COMMENT:
        snprintf(str, (size_t)num, "\n");
        return str;
    case L_CONT:
        r->cont = 1;
        side_value(r, s, str, num, "  ", 2);
        return str;
    case L_SECTION:
        r->has_prev = 0;
        while (isspace((unsigned char)*s))
            s++;
        if (section_line(r, s) != 0)
            return NULL;
        snprintf(str, (size_t)num, "[s]\n");
        return str;
    case L_KEY:
        return key_line(r, s, str, num, (size_t)n) == 0 ? str : NULL;
    default:
        fail_at(r, "syntax error: expected '[section]', 'key = value' or a comment");
        return NULL;
    }
}

static int handler_fn(void *user, const char *section, const char *name, const char *value)
{
    struct reader *r = user;
    (void)section; /* inih's copy is cut at 49 characters and untrimmed */
    if (r->failed)
        return 0;
    const char *v = value ? value : "";
    if (v[0] == LONG_MARK) {
        size_t idx = (size_t)strtoul(v + 1, NULL, 10);
        v = idx < r->nlong ? r->longvals[idx] : "";
    }
    nx_err sub;
    sub.msg[0] = '\0';
    if (r->fn(r->user, r->section, name, v, r->lineno, r->cont, &sub) != 0) {
        fail_at(r, sub.msg[0] ? sub.msg : "rejected");
        return 0;
    }
    return 1;
}

int nx_ini_parse(const char *path, nx_ini_fn fn, void *user, nx_err *e)
{
    struct reader r = { .path = path, .fn = fn, .user = user, .e = e };
    r.fp = fopen(path, "re");
    if (!r.fp) {
        nx_seterr(e, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = ini_parse_stream(reader_fn, &r, handler_fn, &r);
    if (!r.failed && ferror(r.fp)) {
        nx_seterr(e, "%s: read error", path);
        r.failed = 1;
    }
    if (!r.failed && rc > 0) {
        nx_seterr(e, "%s:%d: syntax error: expected '[section]' or 'key = value'", path, rc);
        r.failed = 1;
    } else if (!r.failed && rc < 0) {
        nx_seterr(e, "%s: cannot parse (inih error %d)", path, rc);
        r.failed = 1;
    }
    fclose(r.fp);
    free(r.last);
    for (size_t i = 0; i < r.nlong; i++)
        free(r.longvals[i]);
    free(r.longvals);
    return r.failed ? -1 : 0;
}
