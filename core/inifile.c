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

/* Turn an over-long "key = value" line into "key = \x1eN". */
static int shorten(struct reader *r, char *line, char *out, int num)
{
    char *sep = strpbrk(line, "=:");
    if (!sep || sep - line > 200) {
        fail_at(r, "line too long and not 'key = value'");
        return -1;
    }
    char *val = sep + 1;
    strip_inline_comment(val);
    val = trim(val);
    r->longvals = nx_xrealloc(r->longvals, (r->nlong + 1) * sizeof *r->longvals);
    r->longvals[r->nlong] = nx_xstrdup(val);
    snprintf(out, (size_t)num, "%.*s= %c%zu\n", (int)(sep - line), line, LONG_MARK,
             r->nlong);
    r->nlong++;
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
    char *line = r->last;
    if (memchr(line, LONG_MARK, (size_t)n) || memchr(line, '\0', (size_t)n)) {
        fail_at(r, "control character in line");
        return NULL;
    }
    char *s = line;
    if (r->lineno == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        s += 3;
    r->cont = 0;
    char *t = s;
    while (*t == ' ' || *t == '\t')
        t++;
    if (*t == '[') {
        if (section_line(r, t) != 0)
            return NULL;
    } else if (t > s && *t && *t != '\n' && *t != '\r' && *t != ';' && *t != '#') {
        r->cont = 1;
    }
    if (n + 1 < num) {
        memcpy(str, line, (size_t)n + 1);
        return str;
    }
    if (r->cont) {
        fail_at(r, "continuation line too long");
        return NULL;
    }
    if (shorten(r, s, str, num) != 0)
        return NULL;
    return str;
}

static int handler_fn(void *user, const char *section, const char *name, const char *value)
{
    struct reader *r = user;
    if (r->failed)
        return 0;
    const char *v = value ? value : "";
    if (v[0] == LONG_MARK) {
        size_t idx = (size_t)strtoul(v + 1, NULL, 10);
        v = idx < r->nlong ? r->longvals[idx] : "";
    }
    nx_err sub;
    if (r->fn(r->user, section, name, v, r->lineno, r->cont, &sub) != 0) {
        fail_at(r, sub.msg);
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
