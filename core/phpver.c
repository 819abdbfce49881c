/* Reader for version.php files: a small tokenizer and a recursive-descent
 * parser for the one statement such a file may hold,
 * "<?php return [ ... ];". Nothing is executed. See phpver.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "phpver.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PV_MAX_DEPTH 32
#define PV_MAX_FILE (1024 * 1024)
#define PV_DESC_MAX 40                     /* source bytes shown in messages */
#define PV_DESC_BUF (PV_DESC_MAX * 4 + 8)  /* room for \xHH escapes and "..." */

enum tok_kind {
    T_EOF, T_LBRACK, T_RBRACK, T_LPAREN, T_RPAREN, T_COMMA, T_SEMI,
    T_ARROW, T_CLOSE, T_STRING, T_INT, T_FLOAT, T_WORD, T_OTHER
};

struct tok {
    enum tok_kind kind;
    int line;           /* line of the token's first byte */
    const char *start;  /* raw source text, for messages */
    size_t len;
    long long ival;     /* T_INT */
    double dval;        /* T_FLOAT */
    /* T_STRING: the decoded bytes are in parser.sbuf until the next token */
};

struct parser {
    const char *p, *end;
    int line;
    int last_line;      /* line where the previous token ended */
    const char *name;
    nx_err *e;
    int failed;
    char *sbuf;         /* decoded string / digits of the current token */
    size_t slen, scap;
};

/* One array being parsed. */
struct arr {
    json_t *val;        /* NULL until the first entry decides list or object */
    json_t *lines;      /* key -> line of its entry (objects only) */
    int keyed;
    int open_line;
    int depth;
    enum tok_kind close;
};

static json_t *parse_value(struct parser *P, struct tok *t, int depth);

/* ---- errors ---------------------------------------------------------- */

static void fail(struct parser *P, int line, const char *fmt, ...) NX_PRINTF(3, 4);

static void fail(struct parser *P, int line, const char *fmt, ...)
{
    char buf[NX_ERRLEN];
    va_list ap;
    if (P->failed)
        return;
    P->failed = 1;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    nx_seterr(P->e, "%s:%d: %s", P->name, line, buf);
}

/* Source text made safe for a one-line message: quotes and backslashes
 * escaped, control and non-ASCII bytes as \xHH, cut after PV_DESC_MAX. */
static const char *describe(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < PV_DESC_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, 5, "\\x%02x", c);
            o += 4;
        }
    }
    if (n > PV_DESC_MAX) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* "<what>, found <token>"; end of file is reported on the line where the
 * last token ended. Variables get their own message. */
static void unexpected(struct parser *P, const struct tok *t, const char *what)
{
    char d[PV_DESC_BUF];
    if (t->kind == T_EOF) {
        fail(P, P->last_line, "%s, found end of file", what);
        return;
    }
    describe(t->start, t->len, d);
    if (t->kind == T_OTHER && t->start[0] == '$')
        fail(P, t->line, "variables are not allowed, found \"%s\"", d);
    else if (t->kind == T_OTHER && t->start[0] == '.')
        fail(P, t->line, "concatenation with \".\" is not allowed (%s)", what);
    else
        fail(P, t->line, "%s, found \"%s\"", what, d);
}

/* ---- low-level scanning ---------------------------------------------- */

/* Byte at offset `off` from the current position, or -1 past the end. */
static int at(const struct parser *P, size_t off)
{
    if ((size_t)(P->end - P->p) <= off)
        return -1;
    return (unsigned char)P->p[off];
}

/* Advance one byte, counting "\n", "\r\n" and a lone "\r" as line ends. */
static void bump(struct parser *P)
{
    char c = *P->p++;
    int nl = c == '\n' || (c == '\r' && (P->p == P->end || *P->p != '\n'));
    if (nl && P->line < INT_MAX)
        P->line++;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int is_ident_char(int c)
{
    return is_ident_start(c) || is_digit(c);
}

/* Value of a hex digit, 99 for anything else. */
static int digit_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

static void sput(struct parser *P, const char *s, size_t n)
{
    if (P->slen + n + 1 > P->scap) {
        size_t cap = P->scap ? P->scap : 64;
        while (cap < P->slen + n + 1)
            cap *= 2;
        P->sbuf = nx_xrealloc(P->sbuf, cap);
        P->scap = cap;
    }
    memcpy(P->sbuf + P->slen, s, n);
    P->slen += n;
    P->sbuf[P->slen] = '\0';
}

static void sputc(struct parser *P, int c)
{
    char ch = (char)c;
    sput(P, &ch, 1);
}

/* ---- whitespace and comments ----------------------------------------- */

/* "//" and "#" comments end at the line end or just before "?>". */
static void skip_line_comment(struct parser *P)
{
    while (P->p < P->end && *P->p != '\n' && *P->p != '\r') {
        if (*P->p == '?' && at(P, 1) == '>')
            return;
        bump(P);
    }
}

static int skip_block_comment(struct parser *P)
{
    int line = P->line;
    P->p += 2;
    while (P->p < P->end) {
        if (*P->p == '*' && at(P, 1) == '/') {
            P->p += 2;
            return 0;
        }
        bump(P);
    }
    fail(P, line, "unterminated comment (the \"/*\" on this line is never closed)");
    return -1;
}

static int skip_space(struct parser *P)
{
    for (;;) {
        int c = at(P, 0), d = at(P, 1);
        if (is_space(c)) {
            bump(P);
        } else if (c == '#' && d == '[') {
            fail(P, P->line, "attributes (\"#[\") are not allowed");
            return -1;
        } else if (c == '#' || (c == '/' && d == '/')) {
            skip_line_comment(P);
        } else if (c == '/' && d == '*') {
            if (skip_block_comment(P) != 0)
                return -1;
        } else {
            return 0;
        }
    }
}

/* ---- strings --------------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], cp, min;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int finish_string(struct parser *P, struct tok *t)
{
    if (!utf8_valid((const unsigned char *)P->sbuf, P->slen)) {
        fail(P, t->line, "string is not valid UTF-8");
        return -1;
    }
    t->kind = T_STRING;
    return 0;
}

/* Single quotes: only \\ and \' are escapes. */
static int lex_sstring(struct parser *P, struct tok *t)
{
    bump(P);
    while (P->p < P->end && *P->p != '\'') {
        int d = at(P, 1);
        if (*P->p == '\\' && (d == '\\' || d == '\''))
            P->p++;
        sputc(P, *P->p);
        bump(P);
    }
    if (P->p == P->end) {
        fail(P, t->line, "unterminated string (the quote opened on this line is never closed)");
        return -1;
    }
    bump(P);
    return finish_string(P, t);
}

static void put_utf8(struct parser *P, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        n = 4;
    }
    for (size_t i = 1; i < n; i++)
        b[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
    sput(P, b, n);
}

/* "\u{HHHH}"; the current position is at the backslash. */
static int unicode_escape(struct parser *P)
{
    const char *s = P->p + 3;
    unsigned long cp = 0;
    size_t n = 0;
    while (s < P->end && digit_val((unsigned char)*s) < 16) {
        if (cp <= 0x10FFFF)
            cp = cp * 16 + (unsigned long)digit_val((unsigned char)*s);
        s++;
        n++;
    }
    if (n == 0 || s == P->end || *s != '}') {
        fail(P, P->line, "invalid \"\\u{...}\" escape (expected hex digits and \"}\")");
        return -1;
    }
    if (cp > 0x10FFFF) {
        fail(P, P->line, "\"\\u{...}\" escape is beyond U+10FFFF");
        return -1;
    }
    put_utf8(P, cp);
    P->p = s + 1;
    return 0;
}

/* "\0" to "\777"; the current position is at the backslash. */
static int octal_escape(struct parser *P)
{
    const char *s = P->p + 1;
    unsigned v = 0;
    int n = 0;
    while (n < 3 && s + n < P->end && s[n] >= '0' && s[n] <= '7') {
        v = v * 8 + (unsigned)(s[n] - '0');
        n++;
    }
    if (v > 0xFF) {
        fail(P, P->line, "octal escape \"\\%.3s\" is greater than \"\\377\"", s);
        return -1;
    }
    sputc(P, (int)v);
    P->p = s + n;
    return 0;
}

/* "\xH" or "\xHH"; the current position is at the backslash. */
static void hex_escape(struct parser *P)
{
    int v = digit_val(at(P, 2)), n = 3;
    if (digit_val(at(P, 3)) < 16) {
        v = v * 16 + digit_val(at(P, 3));
        n = 4;
    }
    sputc(P, v);
    P->p += n;
}

static int simple_escape(int c)
{
    switch (c) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'v': return '\v';
    case 'e': return 0x1B;
    case 'f': return '\f';
    case '\\':
    case '$':
    case '"': return c;
    default: return -1;
    }
}

/* A backslash in double quotes; unknown escapes stay as they are. */
static int lex_escape(struct parser *P)
{
    int c = at(P, 1), v = simple_escape(c);
    if (v >= 0) {
        sputc(P, v);
        P->p += 2;
        return 0;
    }
    if (c >= '0' && c <= '7')
        return octal_escape(P);
    if (c == 'x' && digit_val(at(P, 2)) < 16) {
        hex_escape(P);
        return 0;
    }
    if (c == 'u' && at(P, 2) == '{')
        return unicode_escape(P);
    sputc(P, '\\');
    P->p++;
    return 0;
}

/* "$name", "${" or "{$" interpolation inside double quotes. */
static void variable_in_string(struct parser *P)
{
    char d[PV_DESC_BUF];
    size_t n = 2;
    while (n < (size_t)(P->end - P->p) && is_ident_char((unsigned char)P->p[n]))
        n++;
    fail(P, P->line, "variables are not allowed (found \"%s\" in a double-quoted string)",
         describe(P->p, n, d));
}

static int lex_dstring(struct parser *P, struct tok *t)
{
    bump(P);
    while (P->p < P->end && *P->p != '"') {
        int d = at(P, 1);
        if (*P->p == '\\') {
            if (lex_escape(P) != 0)
                return -1;
        } else if (*P->p == '$' && (is_ident_start(d) || d == '{')) {
            variable_in_string(P);
            return -1;
        } else {
            sputc(P, *P->p);
            bump(P);
        }
    }
    if (P->p == P->end) {
        fail(P, t->line, "unterminated string (the quote opened on this line is never closed)");
        return -1;
    }
    bump(P);
    return finish_string(P, t);
}

/* ---- numbers --------------------------------------------------------- */

static int bad_number(struct parser *P, struct tok *t)
{
    char d[PV_DESC_BUF];
    while (P->p < P->end && (is_ident_char((unsigned char)*P->p) || *P->p == '.'))
        P->p++;
    describe(t->start, (size_t)(P->p - t->start), d);
    fail(P, t->line, "invalid numeric literal \"%s\"", d);
    return -1;
}

static int out_of_range(struct parser *P, struct tok *t)
{
    char d[PV_DESC_BUF];
    describe(t->start, (size_t)(P->p - t->start), d);
    fail(P, t->line, "number \"%s\" is out of range", d);
    return -1;
}

/* Digits of `base` with PHP 7.4 "_" separators between digits; the digits
 * (without "_") are appended to sbuf. Returns how many were read. */
static size_t scan_digits(struct parser *P, int base)
{
    size_t n = 0;
    for (;;) {
        int c = at(P, 0);
        if (c == '_' && n > 0 && digit_val(at(P, 1)) < base) {
            P->p++;
            continue;
        }
        if (c < 0 || digit_val(c) >= base)
            return n;
        sputc(P, c);
        P->p++;
        n++;
    }
}

/* Convert the digits in sbuf; the magnitude may reach 2^63 when negative. */
static int make_int(struct parser *P, struct tok *t, int base, int neg)
{
    unsigned long long v = 0, lim = (unsigned long long)LLONG_MAX + (neg ? 1u : 0u);
    for (size_t i = 0; i < P->slen; i++) {
        unsigned d = (unsigned)digit_val((unsigned char)P->sbuf[i]);
        if (d >= (unsigned)base)
            return bad_number(P, t);
        if (v > (lim - d) / (unsigned)base)
            return out_of_range(P, t);
        v = v * (unsigned)base + d;
    }
    t->kind = T_INT;
    if (!neg)
        t->ival = (long long)v;
    else if (v > (unsigned long long)LLONG_MAX)
        t->ival = LLONG_MIN;
    else
        t->ival = -(long long)v;
    return 0;
}

/* strtod in the "C" locale, whatever the process locale is. */
static double c_strtod(const char *s)
{
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    double v;
    if (!loc)
        return strtod(s, NULL);
    v = strtod_l(s, NULL, loc);
    freelocale(loc);
    return v;
}

static int make_float(struct parser *P, struct tok *t, int neg)
{
    double v = c_strtod(P->sbuf);
    if (!isfinite(v))
        return out_of_range(P, t);
    t->kind = T_FLOAT;
    t->dval = neg ? -v : v;
    return 0;
}

static int exponent_follows(const struct parser *P)
{
    int c = at(P, 0), d = at(P, 1);
    if (c != 'e' && c != 'E')
        return 0;
    return is_digit(d) || ((d == '+' || d == '-') && is_digit(at(P, 2)));
}

/* Decimal integer, legacy octal ("0755") or float ("1.5", ".5", "1.",
 * "1e3"). */
static int lex_decimal(struct parser *P, struct tok *t, int neg)
{
    size_t n = scan_digits(P, 10);
    int is_float = 0;
    if (at(P, 0) == '.' && (n > 0 || is_digit(at(P, 1)))) {
        is_float = 1;
        sputc(P, '.');
        P->p++;
        scan_digits(P, 10);
    }
    if (exponent_follows(P)) {
        is_float = 1;
        sputc(P, 'e');
        P->p++;
        if (*P->p == '+' || *P->p == '-')
            sputc(P, *P->p++);
        scan_digits(P, 10);
    }
    if (P->p < P->end && (is_ident_char((unsigned char)*P->p) || (is_float && *P->p == '.')))
        return bad_number(P, t);
    if (is_float)
        return make_float(P, t, neg);
    return make_int(P, t, n > 1 && P->sbuf[0] == '0' ? 8 : 10, neg);
}

static int lex_number(struct parser *P, struct tok *t)
{
    int neg = *P->p == '-', c, base = 10;
    if (neg)
        P->p++;
    c = at(P, 1);
    if (at(P, 0) == '0' && (c == 'x' || c == 'X'))
        base = 16;
    else if (at(P, 0) == '0' && (c == 'o' || c == 'O'))
        base = 8;
    else if (at(P, 0) == '0' && (c == 'b' || c == 'B'))
        base = 2;
    if (base == 10)
        return lex_decimal(P, t, neg);
    P->p += 2;
    if (scan_digits(P, base) == 0 ||
        (P->p < P->end && is_ident_char((unsigned char)*P->p)))
        return bad_number(P, t);
    return make_int(P, t, base, neg);
}

/* ---- tokens ---------------------------------------------------------- */

static void lex_word(struct parser *P, struct tok *t)
{
    P->p++;
    while (P->p < P->end && (is_ident_char((unsigned char)*P->p) || *P->p == '\\'))
        P->p++;
    t->kind = T_WORD;
}

/* "$name" outside strings: a token the parser rejects with a clear message. */
static void lex_variable(struct parser *P, struct tok *t)
{
    P->p++;
    while (P->p < P->end && is_ident_char((unsigned char)*P->p))
        P->p++;
    t->kind = T_OTHER;
}

static int single(struct parser *P, struct tok *t, enum tok_kind k, size_t n)
{
    P->p += n;
    t->kind = k;
    return 0;
}

static int lex_token(struct parser *P, struct tok *t)
{
    int c = at(P, 0), d = at(P, 1);
    switch (c) {
    case '[': return single(P, t, T_LBRACK, 1);
    case ']': return single(P, t, T_RBRACK, 1);
    case '(': return single(P, t, T_LPAREN, 1);
    case ')': return single(P, t, T_RPAREN, 1);
    case ',': return single(P, t, T_COMMA, 1);
    case ';': return single(P, t, T_SEMI, 1);
    case '\'': return lex_sstring(P, t);
    case '"': return lex_dstring(P, t);
    case '$': lex_variable(P, t); return 0;
    default: break;
    }
    if (c == '=' && d == '>')
        return single(P, t, T_ARROW, 2);
    if (c == '?' && d == '>')
        return single(P, t, T_CLOSE, 2);
    if (c == '<' && d == '<' && at(P, 2) == '<') {
        fail(P, P->line, "heredoc and nowdoc strings (\"<<<\") are not allowed");
        return -1;
    }
    if (is_digit(c) || ((c == '-' || c == '.') && is_digit(d)) ||
        (c == '-' && d == '.' && is_digit(at(P, 2))))
        return lex_number(P, t);
    if (is_ident_start(c) || (c == '\\' && is_ident_start(d))) {
        lex_word(P, t);
        return 0;
    }
    t->kind = T_OTHER;
    bump(P);
    return 0;
}

static int next_token(struct parser *P, struct tok *t)
{
    P->last_line = P->line;
    if (skip_space(P) != 0)
        return -1;
    memset(t, 0, sizeof *t);
    t->line = P->line;
    t->start = P->p;
    P->slen = 0;
    if (P->p == P->end) {
        t->kind = T_EOF;
        return 0;
    }
    if (lex_token(P, t) != 0)
        return -1;
    t->len = (size_t)(P->p - t->start);
    return 0;
}

static int word_is(const struct tok *t, const char *w)
{
    size_t n = strlen(w);
    return t->kind == T_WORD && t->len == n && strncasecmp(t->start, w, n) == 0;
}

/* ---- parser ---------------------------------------------------------- */

static json_t *checked(struct parser *P, json_t *v, int line)
{
    if (!v)
        fail(P, line, "out of memory building the JSON value");
    return v;
}

static int mixed_error(struct parser *P, struct arr *a, int line)
{
    fail(P, line, "cannot mix keyed and unkeyed entries in one array (opened on line %d)",
         a->open_line);
    return -1;
}

static int add_item(struct parser *P, struct arr *a, json_t *v, int line)
{
    if (!a->val) {
        a->val = checked(P, json_array(), line);
        if (!a->val) {
            json_decref(v);
            return -1;
        }
    } else if (a->keyed) {
        json_decref(v);
        return mixed_error(P, a, line);
    }
    if (json_array_append_new(a->val, v) != 0) {
        fail(P, line, "out of memory building the JSON value");
        return -1;
    }
    return 0;
}

static int add_keyed(struct parser *P, struct arr *a, const char *key, json_t *v, int line)
{
    char d[PV_DESC_BUF];
    if (!a->val) {
        a->keyed = 1;
        a->val = json_object();
        a->lines = json_object();
    } else if (!a->keyed) {
        json_decref(v);
        return mixed_error(P, a, line);
    }
    json_t *prev = a->lines ? json_object_get(a->lines, key) : NULL;
    if (prev) {
        json_decref(v);
        fail(P, line, "duplicate key \"%s\" (first on line %d)",
             describe(key, strlen(key), d), (int)json_integer_value(prev));
        return -1;
    }
    if (json_object_set_new(a->val, key, v) != 0 ||
        json_object_set_new(a->lines, key, json_integer(line)) != 0) {
        fail(P, line, "out of memory building the JSON value");
        return -1;
    }
    return 0;
}

/* The JSON object key for a parsed key value: strings as they are,
 * integers in decimal (PHP also turns "5" into 5, which maps back to "5"). */
static const char *key_text(struct parser *P, const struct tok *first, json_t *k,
                            char *buf, size_t cap)
{
    char d[PV_DESC_BUF];
    if (json_is_integer(k)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
        return buf;
    }
    if (!json_is_string(k)) {
        fail(P, first->line, "array keys must be strings or integers, found \"%s\"",
             describe(first->start, first->len, d));
        return NULL;
    }
    if (strlen(json_string_value(k)) != json_string_length(k)) {
        fail(P, first->line, "array keys must not contain NUL bytes");
        return NULL;
    }
    return json_string_value(k);
}

/* "key => value" once the key has been parsed and "=>" read; leaves the
 * token after the value in *t. */
static int parse_keyed(struct parser *P, struct arr *a, const struct tok *first, json_t *k,
                       struct tok *t)
{
    char buf[32];
    const char *key = key_text(P, first, k, buf, sizeof buf);
    json_t *v = NULL;
    int rc = -1;
    if (key && next_token(P, t) == 0)
        v = parse_value(P, t, a->depth);
    if (v && next_token(P, t) == 0)
        rc = add_keyed(P, a, key, v, first->line);
    else
        json_decref(v);
    json_decref(k);
    return rc;
}

/* One entry starting at token *t; leaves the token after it in *t. */
static int parse_entry(struct parser *P, struct arr *a, struct tok *t)
{
    struct tok first = *t;
    json_t *v = parse_value(P, t, a->depth);
    if (!v)
        return -1;
    if (next_token(P, t) != 0) {
        json_decref(v);
        return -1;
    }
    if (t->kind == T_ARROW)
        return parse_keyed(P, a, &first, v, t);
    return add_item(P, a, v, first.line);
}

static void bad_separator(struct parser *P, const struct arr *a, const struct tok *t)
{
    int list = a->close == T_RBRACK;
    if (t->kind == T_EOF)
        fail(P, a->open_line, "unterminated array (the \"%s\" on this line is never closed)",
             list ? "[" : "array(");
    else
        unexpected(P, t, list ? "expected \",\" or \"]\"" : "expected \",\" or \")\"");
}

/* The entries of an array whose opening "[" or "array(" has been read. */
static json_t *parse_array(struct parser *P, enum tok_kind close, int line, int depth)
{
    struct arr a = { .open_line = line, .depth = depth, .close = close };
    struct tok t;
    int rc;
    if (depth > PV_MAX_DEPTH) {
        fail(P, line, "arrays are nested deeper than %d levels", PV_MAX_DEPTH);
        return NULL;
    }
    rc = next_token(P, &t);
    while (rc == 0 && t.kind != close) {
        if (t.kind == T_EOF) {
            bad_separator(P, &a, &t);
            rc = -1;
            break;
        }
        rc = parse_entry(P, &a, &t);
        if (rc == 0 && t.kind == T_COMMA) {
            rc = next_token(P, &t);
        } else if (rc == 0 && t.kind != close) {
            bad_separator(P, &a, &t);
            rc = -1;
        }
    }
    json_decref(a.lines);
    if (rc != 0) {
        json_decref(a.val);
        return NULL;
    }
    return a.val ? a.val : checked(P, json_array(), line);
}

/* true/false/null, "array(" or an error for constants and calls. */
static json_t *parse_word(struct parser *P, struct tok *t, int depth)
{
    char d[PV_DESC_BUF];
    const char *s = P->p;
    if (word_is(t, "true"))
        return json_true();
    if (word_is(t, "false"))
        return json_false();
    if (word_is(t, "null"))
        return json_null();
    if (word_is(t, "array")) {
        int line = t->line;
        if (next_token(P, t) != 0)
            return NULL;
        if (t->kind == T_LPAREN)
            return parse_array(P, T_RPAREN, line, depth + 1);
        unexpected(P, t, "expected \"(\" after \"array\"");
        return NULL;
    }
    while (s < P->end && is_space((unsigned char)*s))
        s++;
    describe(t->start, t->len, d);
    if (s < P->end && *s == '(')
        fail(P, t->line, "expected a literal value, found function call \"%s(...)\"", d);
    else
        fail(P, t->line, "expected a literal value, found \"%s\"", d);
    return NULL;
}

/* A value starting at token *t inside an array of the given depth. */
static json_t *parse_value(struct parser *P, struct tok *t, int depth)
{
    switch (t->kind) {
    case T_STRING: return checked(P, json_stringn(P->slen ? P->sbuf : "", P->slen), t->line);
    case T_INT: return checked(P, json_integer(t->ival), t->line);
    case T_FLOAT: return checked(P, json_real(t->dval), t->line);
    case T_LBRACK: return parse_array(P, T_RBRACK, t->line, depth + 1);
    case T_WORD: return parse_word(P, t, depth);
    default:
        unexpected(P, t, "expected a literal value");
        return NULL;
    }
}

/* "<?php" first, after an optional BOM and whitespace. */
static int open_tag(struct parser *P)
{
    char d[PV_DESC_BUF];
    size_t n = 0;
    if (P->end - P->p >= 3 && memcmp(P->p, "\xEF\xBB\xBF", 3) == 0)
        P->p += 3;
    while (P->p < P->end && is_space((unsigned char)*P->p))
        bump(P);
    if (P->end - P->p >= 5 && strncasecmp(P->p, "<?php", 5) == 0 &&
        (P->end - P->p == 5 || is_space((unsigned char)P->p[5]))) {
        P->p += 5;
        return 0;
    }
    if (P->p == P->end) {
        fail(P, 1, "expected \"<?php\" at the start of the file, found end of file");
        return -1;
    }
    while (P->p + n < P->end && n < 16 && !is_space((unsigned char)P->p[n]))
        n++;
    fail(P, 1, "expected \"<?php\" at the start of the file, found \"%s\"",
         describe(P->p, n, d));
    return -1;
}

/* After "?>" only whitespace may follow. */
static int after_close(struct parser *P)
{
    while (P->p < P->end && is_space((unsigned char)*P->p))
        bump(P);
    if (P->p < P->end) {
        fail(P, P->line, "text after \"?>\" is not allowed");
        return -1;
    }
    return 0;
}

/* ";" and then the end of the file or "?>". */
static int parse_tail(struct parser *P)
{
    struct tok t;
    if (next_token(P, &t) != 0)
        return -1;
    if (t.kind != T_SEMI) {
        unexpected(P, &t, "expected \";\" after the array");
        return -1;
    }
    if (next_token(P, &t) != 0)
        return -1;
    if (t.kind == T_CLOSE)
        return after_close(P);
    if (t.kind != T_EOF) {
        unexpected(P, &t, "only one statement is allowed: expected the end of the file "
                          "after the return statement");
        return -1;
    }
    return 0;
}

static json_t *parse_file(struct parser *P)
{
    struct tok t;
    json_t *v;
    if (next_token(P, &t) != 0)
        return NULL;
    if (!word_is(&t, "return")) {
        unexpected(P, &t, "expected \"return\"");
        return NULL;
    }
    if (next_token(P, &t) != 0)
        return NULL;
    if (t.kind != T_LBRACK && !word_is(&t, "array")) {
        unexpected(P, &t, "expected an array after \"return\"");
        return NULL;
    }
    v = parse_value(P, &t, 0);
    if (v && parse_tail(P) != 0) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

json_t *nx_phpver_parse(const char *text, size_t len, const char *name, nx_err *e)
{
    struct parser P;
    json_t *v = NULL;
    memset(&P, 0, sizeof P);
    P.p = text ? text : "";
    P.end = P.p + (text ? len : 0);
    P.line = 1;
    P.last_line = 1;
    P.name = name ? name : "version.php";
    P.e = e;
    if (open_tag(&P) == 0)
        v = parse_file(&P);
    free(P.sbuf);
    return v;
}

json_t *nx_phpver_load(const char *path, nx_err *e)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *v;
    if (nx_read_file(path, &buf, &len, PV_MAX_FILE, e) != 0)
        return NULL;
    v = nx_phpver_parse(buf, len, path, e);
    free(buf);
    return v;
}
