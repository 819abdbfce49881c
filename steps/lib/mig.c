/*
 * Migration and install files (spec §5.2, contracts §7): libxml2 reads the
 * file into a tree (no network, no DTD, no entity expansion: a DOCTYPE
 * stops the parser), then the tree is checked element by element and
 * turned into nexo_op entries. Every string of the result lives in one
 * arena (nx_mig.mem) that nx_mig_free releases at once.
 *
 * Lines: libxml2 numbers an element by the line where its start tag ends
 * and a text node by where its first chunk ends, and stops counting at
 * 65535; two SAX hooks record where each begins instead (in the node's
 * _private), so that messages point at the '<' of a multi-line start tag
 * and at the text itself.
 */
#include "mig.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "mig_internal.h"
#include "semver.h"

#define MIG_MAX_FILE (64u << 20)  /* bytes */
#define SHOWN_MAX 60              /* bytes of a value quoted in a message */

#if LIBXML_VERSION >= 21200
typedef const xmlError *nx_xml_error;
#else
typedef xmlErrorPtr nx_xml_error;
#endif

/* ---- arena -------------------------------------------------------------- */

#define CHUNK_SIZE 16384

struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct arena {
    struct chunk *head;
};

static struct chunk *chunk_new(size_t cap)
{
    struct chunk *k = nx_xmalloc(sizeof *k + cap);
    k->next = NULL;
    k->used = 0;
    k->cap = cap;
    return k;
}

/* Zeroed, aligned memory that lives until arena_free. Large blocks get a
 * chunk of their own behind the head, so the head keeps filling up. */
static void *arena_alloc(struct arena *a, size_t n)
{
    const size_t al = sizeof(max_align_t);
    if (n > SIZE_MAX / 2)
        abort();
    n = (n + al - 1) / al * al;
    struct chunk *k = a->head;
    if (n > CHUNK_SIZE / 4) {
        k = chunk_new(n);
        k->next = a->head ? a->head->next : NULL;
        if (a->head)
            a->head->next = k;
        else
            a->head = k;
    } else if (!k || k->cap - k->used < n) {
        k = chunk_new(CHUNK_SIZE);
        k->next = a->head;
        a->head = k;
    }
    void *p = (char *)k->data + k->used;
    k->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

static void arena_free(struct arena *a)
{
    if (!a)
        return;
    for (struct chunk *k = a->head, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    free(a);
}

/* A growing array in the arena (old copies stay until arena_free). */
struct vec {
    void *items;
    size_t n, cap, size;
};

#define VEC(type) {NULL, 0, 0, sizeof(type)}

static void *vec_push(struct arena *a, struct vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void *items = arena_alloc(a, cap * v->size);
        if (v->n)
            memcpy(items, v->items, v->n * v->size);
        v->items = items;
        v->cap = cap;
    }
    return (char *)v->items + v->n++ * v->size;
}

/* ---- context, messages -------------------------------------------------- */

struct seen {
    const char *name;
    int line;
};

struct ctx {
    struct arena *a;
    const char *file;
    long long timestamp;
    nx_err *e;
    struct vec ops;      /* struct nexo_op */
    struct vec scripts;  /* nx_script */
    struct vec cleanup;  /* nx_cleanup */
    struct vec indexes;  /* struct seen: index names of the whole file */
};

static int fail(struct ctx *c, int line, const char *fmt, ...) NX_PRINTF(3, 4);
static int fail(struct ctx *c, int line, const char *fmt, ...)
{
    char msg[NX_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nx_seterr(c->e, "%s:%d: %s", c->file, line, msg);
    return -1;
}

/* `s` fit for a one-line message: control characters as '?', cut after
 * SHOWN_MAX bytes. */
static const char *shown(struct ctx *c, const char *s)
{
    size_t n = strlen(s), k = n > SHOWN_MAX ? SHOWN_MAX : n;
    char *o = arena_alloc(c->a, k + 4);
    for (size_t i = 0; i < k; i++) {
        unsigned char u = (unsigned char)s[i];
        o[i] = (u < 0x20 || u == 0x7f) ? '?' : s[i];
    }
    if (n > k)
        memcpy(o + k, "...", 3);
    return o;
}

static int is_ws(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int blank(const char *s)
{
    while (*s && is_ws((unsigned char)*s))
        s++;
    return *s == '\0';
}

static int upper(int ch)
{
    return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch;
}

/* `s` without surrounding whitespace, in the arena. */
static char *trimmed(struct ctx *c, const char *s)
{
    while (*s && is_ws((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_ws((unsigned char)s[n - 1]))
        n--;
    return arena_strndup(c->a, s, n);
}

/* Upper-case `s` with runs of whitespace made one space, trimmed; NULL
 * when it does not fit in `size`. */
static char *normalized(const char *s, char *buf, size_t size)
{
    size_t o = 0;
    for (const char *p = s; *p; p++) {
        if (is_ws((unsigned char)*p))
            continue;
        if (o > 0 && p > s && is_ws((unsigned char)p[-1]) && o + 1 < size)
            buf[o++] = ' ';
        if (o + 1 >= size)
            return NULL;
        buf[o++] = (char)upper((unsigned char)*p);
    }
    buf[o] = '\0';
    return buf;
}

/* "a, b, c" of a NULL-terminated list, or "none". */
static const char *joined(struct ctx *c, const char *const *list)
{
    size_t len = 5;
    for (const char *const *p = list; *p; p++)
        len += strlen(*p) + 2;
    char *s = arena_alloc(c->a, len);
    strcpy(s, list[0] ? "" : "none");
    for (const char *const *p = list; *p; p++) {
        if (p != list)
            strcat(s, ", ");
        strcat(s, *p);
    }
    return s;
}

/* ---- libxml2 ------------------------------------------------------------ */

/* What the parser hooks record (the parser context's _private). */
struct xmlcap {
    int doctype_line;   /* > 0: a DOCTYPE was seen and parsing stopped there */
    int err_line;
    int have_err;
    char err[512];      /* libxml2's first error */
};

static void on_error(void *data, nx_xml_error err)
{
    xmlParserCtxtPtr p = data;
    struct xmlcap *cap = p ? p->_private : NULL;
    if (!cap || !err || cap->have_err || err->level < XML_ERR_ERROR)
        return;
    cap->have_err = 1;
    cap->err_line = err->line;
    snprintf(cap->err, sizeof cap->err, "%s", err->message ? err->message : "unknown error");
}

static void on_doctype(void *ud, const xmlChar *name, const xmlChar *ext_id,
                       const xmlChar *sys_id)
{
    xmlParserCtxtPtr p = ud;
    struct xmlcap *cap = p->_private;
    (void)name;
    (void)ext_id;
    (void)sys_id;
    cap->doctype_line = p->input ? p->input->line : 1;
    xmlStopParser(p);
}

static int count_nl(const xmlChar *s, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '\n';
    return k;
}

/* Newlines between the last '<' before the parser's position and that
 * position (the start tag being reported); -1 when the '<' is no longer
 * in the buffer. */
static int lines_back_to_tag(const xmlParserInput *in)
{
    int k = 0;
    for (const xmlChar *q = in->cur; q > in->base;) {
        q--;
        if (*q == '<')
            return k;
        k += *q == '\n';
    }
    return -1;
}

/* The line where a node begins, kept in the node's application field
 * (libxml2's own line field stops at 65535). */
static void set_line(xmlNode *n, long line)
{
    if (line >= 1 && line < INT_MAX)
        n->_private = (void *)(intptr_t)line;
}

static void on_start(void *ud, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                     int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr p = ud;
    xmlSAX2StartElementNs(ud, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
    xmlNode *n = p->node;
    if (!n || !p->input || n->type != XML_ELEMENT_NODE || n->children ||
        !xmlStrEqual(n->name, localname))
        return;
    int back = lines_back_to_tag(p->input);
    set_line(n, (long)p->input->line - (back > 0 ? back : 0));
}

static void on_chars(void *ud, const xmlChar *ch, int len)
{
    xmlParserCtxtPtr p = ud;
    xmlNode *parent = p->node;
    xmlNode *last = parent ? parent->last : NULL;
    xmlSAX2Characters(ud, ch, len);
    if (!parent || !p->input || !parent->last || parent->last == last ||
        parent->last->type != XML_TEXT_NODE || len < 0)
        return;
    set_line(parent->last, (long)p->input->line - count_nl(ch, (size_t)len));
}

static void hook_parser(xmlParserCtxtPtr p, struct xmlcap *cap)
{
    p->_private = cap;
#if LIBXML_VERSION >= 21300
    xmlCtxtSetErrorHandler(p, on_error, p);
#else
    p->sax->serror = on_error;
#endif
    p->sax->internalSubset = on_doctype;
    p->sax->startElementNs = on_start;
    p->sax->characters = on_chars;
    p->sax->ignorableWhitespace = on_chars;
}

static int doc_error(struct ctx *c, const struct xmlcap *cap)
{
    if (cap->doctype_line > 0)
        return fail(c, cap->doctype_line,
                    "DOCTYPE is not allowed (no DTDs or entities in migration files)");
    if (!cap->have_err)
        return fail(c, 1, "malformed XML");
    char msg[sizeof cap->err];
    snprintf(msg, sizeof msg, "%s", cap->err);
    size_t n = strlen(msg);
    while (n > 0 && is_ws((unsigned char)msg[n - 1]))
        msg[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
            msg[i] = ' ';
    const char *hint = "";
    if (strstr(msg, "Unescaped '<'"))
        hint = " (write &lt; for '<' in attribute values)";
    else if (strstr(msg, "EntityRef") || strstr(msg, "Entity '"))
        hint = " (write &amp; for '&')";
    return fail(c, cap->err_line > 0 ? cap->err_line : 1, "malformed XML: %s%s", msg, hint);
}

/* The spec's own example (§5.2) writes a raw '<' inside an attribute
 * value — where="last_activity < {{TIMESTAMP}}-2592000" — which XML
 * forbids. Migration files are the spec's format, so before parsing, a '<'
 * inside a quoted attribute value of a tag becomes "&lt;" (lines do not
 * move). Text, comments, CDATA sections and processing instructions are
 * copied as they are; everything else is plain XML. */
enum scan { S_TEXT, S_TAG, S_DQ, S_SQ, S_COMMENT, S_CDATA, S_PI };

static int at_str(const char *buf, size_t len, size_t i, const char *s)
{
    size_t n = strlen(s);
    return i + n <= len && memcmp(buf + i, s, n) == 0;
}

static enum scan scan_text(const char *buf, size_t len, size_t i)
{
    if (buf[i] != '<')
        return S_TEXT;
    if (at_str(buf, len, i, "<!--"))
        return S_COMMENT;
    if (at_str(buf, len, i, "<![CDATA["))
        return S_CDATA;
    if (at_str(buf, len, i, "<?"))
        return S_PI;
    return S_TAG;
}

static char *escape_attr_lt(const char *buf, size_t len, size_t *outlen)
{
    char *out = nx_xmalloc(len * 4 + 1);
    size_t o = 0;
    enum scan st = S_TEXT;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if ((st == S_DQ || st == S_SQ) && ch == '<') {
            memcpy(out + o, "&lt;", 4);
            o += 4;
            continue;
        }
        out[o++] = ch;
        if (st == S_TEXT)
            st = scan_text(buf, len, i);
        else if (st == S_TAG)
            st = ch == '"' ? S_DQ : ch == '\'' ? S_SQ : ch == '>' ? S_TEXT : S_TAG;
        else if ((st == S_DQ && ch == '"') || (st == S_SQ && ch == '\''))
            st = S_TAG;
        else if (st == S_COMMENT && i >= 2 && at_str(buf, len, i - 2, "-->"))
            st = S_TEXT;
        else if (st == S_CDATA && i >= 2 && at_str(buf, len, i - 2, "]]>"))
            st = S_TEXT;
        else if (st == S_PI && i >= 1 && at_str(buf, len, i - 1, "?>"))
            st = S_TEXT;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* The tree of the file's bytes, or NULL with the error set. */
static xmlDoc *read_doc(struct ctx *c, const char *raw, size_t rawlen)
{
    size_t len;
    char *buf = escape_attr_lt(raw, rawlen, &len);
    struct xmlcap cap;
    memset(&cap, 0, sizeof cap);
    xmlParserCtxtPtr p = xmlNewParserCtxt();
    if (!p) {
        free(buf);
        fail(c, 1, "cannot create an XML parser");
        return NULL;
    }
    hook_parser(p, &cap);
    /* Not XML_PARSE_NOENT (no entity substitution), not DTDLOAD/DTDATTR. */
    xmlDoc *doc = xmlCtxtReadMemory(p, buf, (int)len, c->file, NULL,
                                    XML_PARSE_NONET | XML_PARSE_BIG_LINES);
    int ok = doc && p->wellFormed && !cap.have_err && !cap.doctype_line;
    xmlFreeParserCtxt(p);
    free(buf);
    if (ok)
        return doc;
    xmlFreeDoc(doc);
    doc_error(c, &cap);
    return NULL;
}

/* ---- tree helpers ------------------------------------------------------- */

static const char *nm(const xmlNode *n)
{
    return (const char *)n->name;
}

static int line_of(const xmlNode *n)
{
    if (n->_private)
        return (int)(intptr_t)n->_private;
    long l = xmlGetLineNo(n);
    return l > 0 && l < INT_MAX ? (int)l : 1;
}

/* The line of the first non-blank character of a text node. */
static int text_line(const xmlNode *n)
{
    int line = line_of(n);
    if (n->type != XML_TEXT_NODE || !n->content)
        return line;
    for (const xmlChar *p = n->content; *p && is_ws(*p); p++)
        line += *p == '\n';
    return line;
}

static int find_name(const char *const *list, const char *name)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return i;
    return -1;
}

static int unknown_element(struct ctx *c, const xmlNode *el, const char *const *allowed)
{
    return fail(c, line_of(el), "unknown element <%s> in <%s> (allowed: %s)", shown(c, nm(el)),
                nm(el->parent), joined(c, allowed));
}

/* A child node that is not an element must be a comment or blank text. */
static int check_child(struct ctx *c, const xmlNode *parent, const xmlNode *n)
{
    switch (n->type) {
    case XML_ELEMENT_NODE:
        if (n->ns)
            return fail(c, line_of(n), "unknown element <%s> in <%s> (no namespaces)",
                        shown(c, nm(n)), nm(parent));
        return 0;
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
        if (!n->content || blank((const char *)n->content))
            return 0;
        return fail(c, text_line(n), "unexpected text '%s' in <%s>",
                    shown(c, trimmed(c, (const char *)n->content)), nm(parent));
    case XML_COMMENT_NODE:
        return 0;
    case XML_PI_NODE:
        return fail(c, line_of(n), "unexpected processing instruction <?%s?> in <%s>",
                    shown(c, nm(n)), nm(parent));
    case XML_ENTITY_REF_NODE:
        return fail(c, line_of(parent), "unexpected entity reference &%s; in <%s>",
                    shown(c, nm(n)), nm(parent));
    default:
        return fail(c, line_of(parent), "unexpected XML node in <%s>", nm(parent));
    }
}

struct kids {
    xmlNode **v;
    size_t n;
};

/* The element children of `parent` (the rest checked by check_child). */
static int kids_of(struct ctx *c, const xmlNode *parent, struct kids *k)
{
    struct vec v = VEC(xmlNode *);
    for (xmlNode *n = parent->children; n; n = n->next) {
        if (check_child(c, parent, n) != 0)
            return -1;
        if (n->type == XML_ELEMENT_NODE)
            *(xmlNode **)vec_push(c->a, &v) = n;
    }
    k->v = v.items;
    k->n = v.n;
    return 0;
}

/* The text of an element that holds text only (comments allowed). */
static int text_of(struct ctx *c, const xmlNode *el, const char **out)
{
    size_t len = 0;
    for (const xmlNode *n = el->children; n; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE)
            len += n->content ? strlen((const char *)n->content) : 0;
        else if (n->type == XML_ELEMENT_NODE)
            return fail(c, line_of(n), "unexpected element <%s> in <%s> (it holds text only)",
                        shown(c, nm(n)), nm(el));
        else if (check_child(c, el, n) != 0)
            return -1;
    }
    char *s = arena_alloc(c->a, len + 1);
    for (const xmlNode *n = el->children; n; n = n->next)
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content)
            strcat(s, (const char *)n->content);
    *out = s;
    return 0;
}

static const char *const no_attrs[] = {NULL};

static int check_attrs(struct ctx *c, const xmlNode *el, const char *const *allowed)
{
    if (el->nsDef)
        return fail(c, line_of(el), "namespace declaration on <%s> is not allowed", nm(el));
    for (const xmlAttr *at = el->properties; at; at = at->next) {
        const char *name = (const char *)at->name;
        if (!at->ns && find_name(allowed, name) >= 0)
            continue;
        const char *pre = at->ns && at->ns->prefix ? (const char *)at->ns->prefix : "";
        return fail(c, line_of(el), "unknown attribute '%s%s%s' on <%s> (allowed: %s)",
                    shown(c, pre), *pre ? ":" : "", shown(c, name), nm(el), joined(c, allowed));
    }
    return 0;
}

/* An attribute's value in the arena; NULL when absent. */
static const char *attr(struct ctx *c, const xmlNode *el, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(el, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = arena_strdup(c->a, (const char *)v);
    xmlFree(v);
    return s;
}

static int need(struct ctx *c, const xmlNode *el, const char *name, const char **out)
{
    *out = attr(c, el, name);
    if (*out)
        return 0;
    return fail(c, line_of(el), "missing attribute '%s' on <%s>", name, nm(el));
}

static int ident(struct ctx *c, int line, const char *s, const char *what)
{
    if (nx_mig_ident_ok(s))
        return 0;
    return fail(c, line, "invalid identifier '%s' for %s", shown(c, s), what);
}

static int ident_attr(struct ctx *c, const xmlNode *el, const char *name, const char *what,
                      const char **out)
{
    if (need(c, el, name, out) != 0)
        return -1;
    return ident(c, line_of(el), *out, what);
}

static int bool_attr(struct ctx *c, const xmlNode *el, const char *name, int dflt, int *out)
{
    const char *s = attr(c, el, name);
    *out = dflt;
    if (!s)
        return 0;
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = 0;
    else
        return fail(c, line_of(el), "%s=\"%s\" on <%s> is not a boolean (true or false)", name,
                    shown(c, s), nm(el));
    return 0;
}

/* A whole decimal number in [lo, hi] from attribute `name`; *out
 * untouched when the attribute is absent. */
static int num_attr(struct ctx *c, const xmlNode *el, const char *name, unsigned long lo,
                    unsigned long hi, unsigned *out)
{
    const char *s = attr(c, el, name);
    if (!s)
        return 0;
    unsigned long long v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9' && v <= hi; p++)
        v = v * 10 + (unsigned)(*p - '0');
    if (p == s || *p || v < lo || v > hi)
        return fail(c, line_of(el), "%s=\"%s\" on <%s> is not a whole number from %lu to %lu", name,
                    shown(c, s), nm(el), lo, hi);
    *out = (unsigned)v;
    return 0;
}

/* Pass 'el' once: a second one of the same name is an error. */
static int once(struct ctx *c, const xmlNode *el, const xmlNode **slot)
{
    if (*slot)
        return fail(c, line_of(el), "second <%s> in <%s> (the first is at line %d)", nm(el),
                    nm(el->parent), line_of(*slot));
    *slot = el;
    return 0;
}

/* Sort the children of `parent` into slots by name (each at most once). */
static int slot_kids(struct ctx *c, const xmlNode *parent, const char *const *names,
                     const xmlNode **slots)
{
    struct kids k;
    if (kids_of(c, parent, &k) != 0)
        return -1;
    for (size_t i = 0; i < k.n; i++) {
        int w = find_name(names, nm(k.v[i]));
        if (w < 0)
            return unknown_element(c, k.v[i], names);
        if (once(c, k.v[i], &slots[w]) != 0)
            return -1;
    }
    return 0;
}

static struct nexo_op *new_op(struct ctx *c, const xmlNode *el, enum nexo_op_kind kind,
                              const char *table)
{
    struct nexo_op *op = vec_push(c->a, &c->ops);
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->table = table;
    op->file = c->file;
    op->line = line_of(el);
    return op;
}

/* ---- column types ------------------------------------------------------- */

enum { T_INTEGER = 1, T_LEN_REQ = 2, T_LEN_OPT = 4, T_PREC = 8 };

struct tdef {
    const char *name;
    enum nexo_coltype type;
    int flags;
};

static const struct tdef type_defs[] = {
    {"TINYINT", NEXO_T_TINYINT, T_INTEGER},  {"SMALLINT", NEXO_T_SMALLINT, T_INTEGER},
    {"INT", NEXO_T_INT, T_INTEGER},          {"INTEGER", NEXO_T_INT, T_INTEGER},
    {"BIGINT", NEXO_T_BIGINT, T_INTEGER},    {"DECIMAL", NEXO_T_DECIMAL, T_PREC},
    {"NUMERIC", NEXO_T_DECIMAL, T_PREC},     {"FLOAT", NEXO_T_FLOAT, 0},
    {"DOUBLE", NEXO_T_DOUBLE, 0},            {"BOOLEAN", NEXO_T_BOOLEAN, 0},
    {"BOOL", NEXO_T_BOOLEAN, 0},             {"CHAR", NEXO_T_CHAR, T_LEN_REQ},
    {"VARCHAR", NEXO_T_VARCHAR, T_LEN_REQ},  {"TEXT", NEXO_T_TEXT, T_LEN_OPT},
    {"MEDIUMTEXT", NEXO_T_MEDIUMTEXT, 0},    {"LONGTEXT", NEXO_T_LONGTEXT, 0},
    {"BLOB", NEXO_T_BLOB, 0},                {"DATE", NEXO_T_DATE, 0},
    {"DATETIME", NEXO_T_DATETIME, 0},        {"TIMESTAMP", NEXO_T_TIMESTAMP, 0},
    {"JSON", NEXO_T_JSON, 0},
};
#define N_TYPES (sizeof type_defs / sizeof type_defs[0])

static const char *known_types(struct ctx *c)
{
    const char *names[N_TYPES + 1];
    for (size_t i = 0; i < N_TYPES; i++)
        names[i] = type_defs[i].name;
    names[N_TYPES] = NULL;
    const char *list = joined(c, names);
    char *s = arena_alloc(c->a, strlen(list) + 48);
    sprintf(s, "%s; integer types may add UNSIGNED", list);
    return s;
}

/* "bigint  unsigned" → BIGINT with *uns = 1; NULL when unknown. */
static const struct tdef *lookup_type(const char *raw, int *uns)
{
    char buf[64];
    const char *s = normalized(raw, buf, sizeof buf);
    if (!s)
        return NULL;
    const char *sp = strchr(s, ' ');
    size_t n = sp ? (size_t)(sp - s) : strlen(s);
    *uns = 0;
    if (sp) {
        if (strcmp(sp + 1, "UNSIGNED") != 0)
            return NULL;
        *uns = 1;
    }
    for (size_t i = 0; i < N_TYPES; i++)
        if (strlen(type_defs[i].name) == n && strncmp(type_defs[i].name, s, n) == 0)
            return &type_defs[i];
    return NULL;
}

/* Names of the type attributes: type/length/scale or new_type/... */
struct typeattrs {
    const char *type, *length, *scale;
};

static const struct typeattrs plain_type = {"type", "length", "scale"};
static const struct typeattrs new_type = {"new_type", "new_length", "new_scale"};

static int type_sizes(struct ctx *c, const xmlNode *el, const struct typeattrs *ta,
                      const struct tdef *td, struct nexo_column *col)
{
    int line = line_of(el);
    const char *len = attr(c, el, ta->length), *scale = attr(c, el, ta->scale);
    if (scale && !(td->flags & T_PREC))
        return fail(c, line, "type %s of column '%s' takes no %s", td->name, col->name, ta->scale);
    if (len && !(td->flags & (T_PREC | T_LEN_REQ | T_LEN_OPT)))
        return fail(c, line, "type %s of column '%s' takes no %s", td->name, col->name,
                    ta->length);
    if (td->flags & T_PREC) {
        if (!len)
            return fail(c, line, "type %s of column '%s' needs %s (precision 1 to 65)", td->name,
                        col->name, ta->length);
        if (num_attr(c, el, ta->length, 1, 65, &col->length) != 0 ||
            num_attr(c, el, ta->scale, 0, 30, &col->scale) != 0)
            return -1;
        if (col->scale > col->length)
            return fail(c, line, "%s %u of column '%s' is larger than its precision %u",
                        ta->scale, col->scale, col->name, col->length);
        return 0;
    }
    if ((td->flags & T_LEN_REQ) && !len)
        return fail(c, line, "type %s of column '%s' needs %s (1 to 65535)", td->name, col->name,
                    ta->length);
    unsigned long hi = (td->flags & T_LEN_REQ) ? 65535 : UINT_MAX;
    return num_attr(c, el, ta->length, 1, hi, &col->length);
}

static int col_type(struct ctx *c, const xmlNode *el, const struct typeattrs *ta,
                    struct nexo_column *col, const struct tdef **tdp)
{
    const char *raw;
    int uns = 0;
    if (need(c, el, ta->type, &raw) != 0)
        return -1;
    const struct tdef *td = lookup_type(raw, &uns);
    if (!td)
        return fail(c, line_of(el), "unknown type '%s' for column '%s' (known: %s)",
                    shown(c, raw), col->name, known_types(c));
    if (uns && !(td->flags & T_INTEGER))
        return fail(c, line_of(el), "type %s of column '%s' cannot be UNSIGNED (integers only)",
                    td->name, col->name);
    col->type = td->type;
    col->is_unsigned = uns;
    *tdp = td;
    return type_sizes(c, el, ta, td, col);
}

/* ---- <database> --------------------------------------------------------- */

static const char *const column_attrs[] = {"name", "type", "length", "scale", "null",
                                           "autoincrement", "primary", "default", NULL};
static const char *const add_column_attrs[] = {"name", "type", "length", "scale", "null",
                                               "autoincrement", "primary", "default", "after",
                                               NULL};
static const char *const modify_column_attrs[] = {"name", "new_type", "new_length", "new_scale",
                                                  "null", "default", NULL};

static int column_flags(struct ctx *c, const xmlNode *el, const struct tdef *td,
                        struct nexo_column *col)
{
    int line = line_of(el), nullable, ai, pk;
    if (bool_attr(c, el, "null", 1, &nullable) != 0 ||
        bool_attr(c, el, "autoincrement", 0, &ai) != 0 ||
        bool_attr(c, el, "primary", 0, &pk) != 0)
        return -1;
    if (pk && nullable && attr(c, el, "null"))
        return fail(c, line, "primary key column '%s' cannot be null=\"true\"", col->name);
    if (ai && !(td->flags & T_INTEGER))
        return fail(c, line, "autoincrement on column '%s' needs an integer type, not %s",
                    col->name, td->name);
    if (ai && !pk)
        return fail(c, line, "autoincrement on column '%s' needs primary=\"true\"", col->name);
    col->nullable = pk ? 0 : nullable;
    col->autoincrement = ai;
    col->primary = pk;
    return 0;
}

/* <column> of <create_table> or <add_column> of <modify_table>. */
static int parse_column(struct ctx *c, const xmlNode *el, int add, struct nexo_column *col)
{
    const struct tdef *td = NULL;
    if (check_attrs(c, el, add ? add_column_attrs : column_attrs) != 0 ||
        ident_attr(c, el, "name", "column name", &col->name) != 0 ||
        col_type(c, el, &plain_type, col, &td) != 0 || column_flags(c, el, td, col) != 0)
        return -1;
    col->default_value = attr(c, el, "default");
    if (!add)
        return 0;
    col->after = attr(c, el, "after");
    return col->after ? ident(c, line_of(el), col->after, "after column") : 0;
}

/* A table being created: its columns so far. */
struct table {
    const char *name;
    struct vec cols;   /* struct nexo_column */
    struct vec idx;    /* struct nexo_index */
    struct vec fks;    /* struct nexo_foreign_key */
    const char *primary;
};

static const struct nexo_column *table_col(const struct table *t, const char *name)
{
    const struct nexo_column *cols = t->cols.items;
    for (size_t i = 0; i < t->cols.n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return &cols[i];
    return NULL;
}

static int parse_columns(struct ctx *c, const xmlNode *el, struct table *t)
{
    static const char *const only[] = {"column", NULL};
    struct kids k;
    if (check_attrs(c, el, no_attrs) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    if (k.n == 0)
        return fail(c, line_of(el), "<columns> of table '%s' has no <column>", t->name);
    for (size_t i = 0; i < k.n; i++) {
        struct nexo_column col;
        memset(&col, 0, sizeof col);
        if (strcmp(nm(k.v[i]), "column") != 0)
            return unknown_element(c, k.v[i], only);
        if (parse_column(c, k.v[i], 0, &col) != 0)
            return -1;
        if (table_col(t, col.name))
            return fail(c, line_of(k.v[i]), "duplicate column '%s' in table '%s'", col.name,
                        t->name);
        if (col.primary && t->primary)
            return fail(c, line_of(k.v[i]),
                        "second primary key column '%s' in table '%s' (the first is '%s'; one "
                        "primary key column per table)",
                        col.name, t->name, t->primary);
        if (col.primary)
            t->primary = col.name;
        *(struct nexo_column *)vec_push(c->a, &t->cols) = col;
    }
    return 0;
}

/* columns="a, b" of an index. */
static int index_columns(struct ctx *c, const xmlNode *el, const char *list, struct nexo_index *ix)
{
    struct vec v = VEC(const char *);
    for (const char *p = list;; p++) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *name = trimmed(c, arena_strndup(c->a, p, n));
        if (ident(c, line_of(el), name, "index column") != 0)
            return -1;
        for (size_t i = 0; i < v.n; i++)
            if (strcmp(((const char **)v.items)[i], name) == 0)
                return fail(c, line_of(el), "column '%s' appears twice in index '%s'", name,
                            ix->name);
        *(const char **)vec_push(c->a, &v) = name;
        if (!comma)
            break;
        p = comma;
    }
    ix->columns = v.items;
    ix->ncolumns = v.n;
    return 0;
}

/* Index names are unique in the whole file: PostgreSQL and SQLite name
 * indexes per schema, not per table. */
static int index_name_unique(struct ctx *c, const xmlNode *el, const char *name)
{
    const struct seen *s = c->indexes.items;
    for (size_t i = 0; i < c->indexes.n; i++)
        if (strcmp(s[i].name, name) == 0)
            return fail(c, line_of(el), "duplicate index name '%s' (first at line %d)", name,
                        s[i].line);
    struct seen *n = vec_push(c->a, &c->indexes);
    n->name = name;
    n->line = line_of(el);
    return 0;
}

static int parse_index(struct ctx *c, const xmlNode *el, struct nexo_index *ix)
{
    static const char *const allowed[] = {"name", "columns", "unique", NULL};
    const char *list;
    if (check_attrs(c, el, allowed) != 0 ||
        ident_attr(c, el, "name", "index name", &ix->name) != 0 ||
        need(c, el, "columns", &list) != 0 || index_columns(c, el, list, ix) != 0 ||
        bool_attr(c, el, "unique", 0, &ix->unique) != 0)
        return -1;
    return index_name_unique(c, el, ix->name);
}

static int parse_indexes(struct ctx *c, const xmlNode *el, struct table *t)
{
    static const char *const only[] = {"index", NULL};
    struct kids k;
    if (check_attrs(c, el, no_attrs) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    for (size_t i = 0; i < k.n; i++) {
        struct nexo_index ix;
        memset(&ix, 0, sizeof ix);
        if (strcmp(nm(k.v[i]), "index") != 0)
            return unknown_element(c, k.v[i], only);
        if (parse_index(c, k.v[i], &ix) != 0)
            return -1;
        for (size_t j = 0; j < ix.ncolumns; j++)
            if (!table_col(t, ix.columns[j]))
                return fail(c, line_of(k.v[i]), "index '%s' names column '%s' that table '%s' "
                            "does not have", ix.name, ix.columns[j], t->name);
        *(struct nexo_index *)vec_push(c->a, &t->idx) = ix;
    }
    return 0;
}

/* references="table(column)". */
static int fk_ref(struct ctx *c, const xmlNode *el, const char *ref, struct nexo_foreign_key *fk)
{
    const char *s = trimmed(c, ref);
    size_t n = strlen(s);
    const char *open = strchr(s, '(');
    if (!open || s[n - 1] != ')')
        return fail(c, line_of(el), "references=\"%s\" on <foreignKey> is not table(column)",
                    shown(c, ref));
    fk->ref_table = trimmed(c, arena_strndup(c->a, s, (size_t)(open - s)));
    fk->ref_column = trimmed(c, arena_strndup(c->a, open + 1, (size_t)(s + n - 2 - open)));
    if (ident(c, line_of(el), fk->ref_table, "referenced table") != 0)
        return -1;
    return ident(c, line_of(el), fk->ref_column, "referenced column");
}

/* onDelete/onUpdate: one of the four actions, stored upper-case. */
static int fk_action(struct ctx *c, const xmlNode *el, const char *name, const char **out)
{
    static const char *const actions[] = {"CASCADE", "SET NULL", "RESTRICT", "NO ACTION", NULL};
    const char *s = attr(c, el, name);
    char buf[32];
    *out = NULL;
    if (!s)
        return 0;
    const char *norm = normalized(s, buf, sizeof buf);
    int i = norm ? find_name(actions, norm) : -1;
    if (i < 0)
        return fail(c, line_of(el), "%s=\"%s\" on <foreignKey> is not one of %s", name,
                    shown(c, s), joined(c, actions));
    *out = actions[i];
    return 0;
}

static int parse_fk(struct ctx *c, const xmlNode *el, const struct table *t,
                    struct nexo_foreign_key *fk)
{
    static const char *const allowed[] = {"column", "references", "onDelete", "onUpdate", NULL};
    const char *ref;
    if (check_attrs(c, el, allowed) != 0 ||
        ident_attr(c, el, "column", "foreign key column", &fk->column) != 0)
        return -1;
    if (!table_col(t, fk->column))
        return fail(c, line_of(el), "foreign key names column '%s' that table '%s' does not have",
                    fk->column, t->name);
    if (need(c, el, "references", &ref) != 0 || fk_ref(c, el, ref, fk) != 0)
        return -1;
    if (fk_action(c, el, "onDelete", &fk->on_delete) != 0)
        return -1;
    return fk_action(c, el, "onUpdate", &fk->on_update);
}

static int parse_fks(struct ctx *c, const xmlNode *el, struct table *t)
{
    static const char *const only[] = {"foreignKey", NULL};
    struct kids k;
    if (check_attrs(c, el, no_attrs) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    for (size_t i = 0; i < k.n; i++) {
        struct nexo_foreign_key fk;
        memset(&fk, 0, sizeof fk);
        if (strcmp(nm(k.v[i]), "foreignKey") != 0)
            return unknown_element(c, k.v[i], only);
        if (parse_fk(c, k.v[i], t, &fk) != 0)
            return -1;
        *(struct nexo_foreign_key *)vec_push(c->a, &t->fks) = fk;
    }
    return 0;
}

static int parse_create_table(struct ctx *c, const xmlNode *el)
{
    static const char *const names[] = {"columns", "indexes", "foreignKeys", NULL};
    static const char *const allowed[] = {"name", NULL};
    const xmlNode *slots[3] = {NULL, NULL, NULL};
    struct table t = {NULL, VEC(struct nexo_column), VEC(struct nexo_index),
                      VEC(struct nexo_foreign_key), NULL};
    if (check_attrs(c, el, allowed) != 0 || ident_attr(c, el, "name", "table name", &t.name) != 0 ||
        slot_kids(c, el, names, slots) != 0)
        return -1;
    if (!slots[0])
        return fail(c, line_of(el), "<create_table name=\"%s\"> has no <columns>", t.name);
    if (parse_columns(c, slots[0], &t) != 0 || (slots[1] && parse_indexes(c, slots[1], &t) != 0) ||
        (slots[2] && parse_fks(c, slots[2], &t) != 0))
        return -1;
    struct nexo_op *op = new_op(c, el, NEXO_OP_CREATE_TABLE, t.name);
    op->columns = t.cols.items;
    op->ncolumns = t.cols.n;
    op->indexes = t.idx.items;
    op->nindexes = t.idx.n;
    op->fkeys = t.fks.items;
    op->nfkeys = t.fks.n;
    return 0;
}

static int parse_add_column(struct ctx *c, const xmlNode *el, const char *table)
{
    struct nexo_column *col = arena_alloc(c->a, sizeof *col);
    if (parse_column(c, el, 1, col) != 0)
        return -1;
    struct nexo_op *op = new_op(c, el, NEXO_OP_ADD_COLUMN, table);
    op->columns = col;
    op->ncolumns = 1;
    return 0;
}

static int parse_modify_column(struct ctx *c, const xmlNode *el, const char *table)
{
    struct nexo_column *col = arena_alloc(c->a, sizeof *col);
    const struct tdef *td = NULL;
    if (check_attrs(c, el, modify_column_attrs) != 0 ||
        ident_attr(c, el, "name", "column name", &col->name) != 0 ||
        col_type(c, el, &new_type, col, &td) != 0 ||
        bool_attr(c, el, "null", 1, &col->nullable) != 0)
        return -1;
    col->default_value = attr(c, el, "default");
    struct nexo_op *op = new_op(c, el, NEXO_OP_MODIFY_COLUMN, table);
    op->columns = col;
    op->ncolumns = 1;
    op->modify_null = attr(c, el, "null") != NULL;
    op->modify_default = col->default_value != NULL;
    return 0;
}

static int parse_add_index(struct ctx *c, const xmlNode *el, const char *table)
{
    struct nexo_index *ix = arena_alloc(c->a, sizeof *ix);
    if (parse_index(c, el, ix) != 0)
        return -1;
    struct nexo_op *op = new_op(c, el, NEXO_OP_ADD_INDEX, table);
    op->indexes = ix;
    op->nindexes = 1;
    return 0;
}

static const char *const name_only[] = {"name", NULL};

static int parse_drop_column(struct ctx *c, const xmlNode *el, const char *table)
{
    const char *col;
    if (check_attrs(c, el, name_only) != 0 || ident_attr(c, el, "name", "column name", &col) != 0)
        return -1;
    new_op(c, el, NEXO_OP_DROP_COLUMN, table)->column = col;
    return 0;
}

static int parse_modify_table(struct ctx *c, const xmlNode *el)
{
    static const char *const names[] = {"add_column", "modify_column", "add_index", "drop_column",
                                        NULL};
    int (*const parse[])(struct ctx *, const xmlNode *, const char *) = {
        parse_add_column, parse_modify_column, parse_add_index, parse_drop_column};
    const char *table;
    struct kids k;
    if (check_attrs(c, el, name_only) != 0 ||
        ident_attr(c, el, "name", "table name", &table) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    for (size_t i = 0; i < k.n; i++) {
        int w = find_name(names, nm(k.v[i]));
        if (w < 0)
            return unknown_element(c, k.v[i], names);
        if (parse[w](c, k.v[i], table) != 0)
            return -1;
    }
    return 0;
}

static int parse_drop_table(struct ctx *c, const xmlNode *el)
{
    const char *table;
    if (check_attrs(c, el, name_only) != 0 ||
        ident_attr(c, el, "name", "table name", &table) != 0)
        return -1;
    new_op(c, el, NEXO_OP_DROP_TABLE, table);
    return 0;
}

static int parse_database(struct ctx *c, const xmlNode *el)
{
    static const char *const names[] = {"create_table", "modify_table", "drop_table", NULL};
    int (*const parse[])(struct ctx *, const xmlNode *) = {
        parse_create_table, parse_modify_table, parse_drop_table};
    struct kids k;
    if (check_attrs(c, el, no_attrs) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    for (size_t i = 0; i < k.n; i++) {
        int w = find_name(names, nm(k.v[i]));
        if (w < 0)
            return unknown_element(c, k.v[i], names);
        if (parse[w](c, k.v[i]) != 0)
            return -1;
    }
    return 0;
}

/* ---- <data> ------------------------------------------------------------- */

/* `s` with every {{TIMESTAMP}} replaced, in the arena. */
static char *with_timestamp(struct ctx *c, const char *s)
{
    static const char tag[] = "{{TIMESTAMP}}";
    const size_t lt = sizeof tag - 1;
    char ts[32];
    int lts = snprintf(ts, sizeof ts, "%lld", c->timestamp);
    size_t count = 0;
    for (const char *p = strstr(s, tag); p; p = strstr(p + lt, tag))
        count++;
    char *out = arena_alloc(c->a, strlen(s) + count * (size_t)lts + 1);
    char *o = out;
    for (const char *p = s, *q; *p; p = q + lt) {
        q = strstr(p, tag);
        if (!q) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, ts, (size_t)lts);
        o += lts;
        *o = '\0';
    }
    return out;
}

/* 0: one expression; 1: a ';' outside quotes; 2: an unterminated quote.
 * Quotes: '...', "...", `...` with doubled quotes and backslash escapes. */
static int sql_shape(const char *s)
{
    char q = 0;
    for (const char *p = s; *p; p++) {
        if (!q) {
            if (*p == ';')
                return 1;
            if (*p == '\'' || *p == '"' || *p == '`')
                q = *p;
        } else if (*p == '\\' && q != '`' && p[1]) {
            p++;
        } else if (*p == q) {
            if (p[1] == q)
                p++;
            else
                q = 0;
        }
    }
    return q ? 2 : 0;
}

/* set= or where=: trusted SQL text, passed through after the checks. */
static int sql_attr(struct ctx *c, const xmlNode *el, const char *name, int required,
                    const char **out)
{
    const char *s = attr(c, el, name);
    int line = line_of(el);
    *out = NULL;
    if (!s)
        return required ? need(c, el, name, &s) : 0;
    if (blank(s))
        return fail(c, line, "%s=\"\" on <%s> is empty%s", name, nm(el),
                    required ? "" : " (leave it out to affect every row)");
    char *r = with_timestamp(c, s);
    int shape = sql_shape(r);
    if (shape == 1)
        return fail(c, line, "set/where must be one expression (no ';'): %s=\"%s\" on <%s>", name,
                    shown(c, s), nm(el));
    if (shape == 2)
        return fail(c, line, "unterminated quote in %s=\"%s\" on <%s>", name, shown(c, s), nm(el));
    *out = r;
    return 0;
}

static int parse_update(struct ctx *c, const xmlNode *el)
{
    static const char *const allowed[] = {"table", "set", "where", NULL};
    const char *table, *set, *where;
    if (check_attrs(c, el, allowed) != 0 ||
        ident_attr(c, el, "table", "table name", &table) != 0 ||
        sql_attr(c, el, "set", 1, &set) != 0 || sql_attr(c, el, "where", 0, &where) != 0)
        return -1;
    struct nexo_op *op = new_op(c, el, NEXO_OP_UPDATE, table);
    op->set_sql = set;
    op->where_sql = where;
    return 0;
}

static int parse_delete(struct ctx *c, const xmlNode *el)
{
    static const char *const allowed[] = {"table", "where", NULL};
    const char *table, *where;
    if (check_attrs(c, el, allowed) != 0 ||
        ident_attr(c, el, "table", "table name", &table) != 0 ||
        sql_attr(c, el, "where", 0, &where) != 0)
        return -1;
    new_op(c, el, NEXO_OP_DELETE, table)->where_sql = where;
    return 0;
}

/* The rows of an <insert>: names of the first row, values of all. */
struct rows {
    const char *table;
    struct vec names;   /* const char * */
    struct vec values;  /* const char *, NULL = SQL NULL */
    size_t n;
};

/* One <col>value</col> of a row: its value (NULL for null="true"). */
static int row_value(struct ctx *c, const xmlNode *el, const char **out)
{
    static const char *const allowed[] = {"null", NULL};
    int is_null;
    if (check_attrs(c, el, allowed) != 0 || bool_attr(c, el, "null", 0, &is_null) != 0 ||
        text_of(c, el, out) != 0)
        return -1;
    if (is_null && **out)
        return fail(c, line_of(el), "column '%s' has null=\"true\" and a value", nm(el));
    if (is_null)
        *out = NULL;
    else if (strstr(*out, "{{TIMESTAMP}}"))
        *out = with_timestamp(c, *out);
    return 0;
}

static int row_column(struct ctx *c, const xmlNode *el, size_t i, struct rows *r)
{
    const char **names = r->names.items;
    const char *name = nm(el);
    if (ident(c, line_of(el), name, "column name") != 0)
        return -1;
    if (r->n > 0 && strcmp(names[i], name) != 0)
        return fail(c, line_of(el), "row %zu of insert into '%s' has column '%s' where the first "
                    "row has '%s' (every row needs the same columns in the same order)",
                    r->n + 1, r->table, name, names[i]);
    if (r->n > 0)
        return 0;
    for (size_t j = 0; j < r->names.n; j++)
        if (strcmp(names[j], name) == 0)
            return fail(c, line_of(el), "column '%s' appears twice in a row of insert into '%s'",
                        name, r->table);
    *(const char **)vec_push(c->a, &r->names) = arena_strdup(c->a, name);
    return 0;
}

static int parse_row(struct ctx *c, const xmlNode *row, struct rows *r)
{
    struct kids k;
    if (check_attrs(c, row, no_attrs) != 0 || kids_of(c, row, &k) != 0)
        return -1;
    if (k.n == 0)
        return fail(c, line_of(row), "empty <row> in insert into '%s'", r->table);
    if (r->n > 0 && k.n != r->names.n)
        return fail(c, line_of(row), "row %zu of insert into '%s' has %zu column%s but the first "
                    "row has %zu (every row needs the same columns in the same order)",
                    r->n + 1, r->table, k.n, k.n == 1 ? "" : "s", r->names.n);
    for (size_t i = 0; i < k.n; i++) {
        const char *v;
        if (row_column(c, k.v[i], i, r) != 0 || row_value(c, k.v[i], &v) != 0)
            return -1;
        *(const char **)vec_push(c->a, &r->values) = v;
    }
    r->n++;
    return 0;
}

static int parse_insert(struct ctx *c, const xmlNode *el)
{
    static const char *const allowed[] = {"table", NULL};
    static const char *const only[] = {"row", NULL};
    struct rows r = {NULL, VEC(const char *), VEC(const char *), 0};
    struct kids k;
    if (check_attrs(c, el, allowed) != 0 ||
        ident_attr(c, el, "table", "table name", &r.table) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    if (k.n == 0)
        return fail(c, line_of(el), "insert into '%s' has no <row>", r.table);
    for (size_t i = 0; i < k.n; i++) {
        if (strcmp(nm(k.v[i]), "row") != 0)
            return unknown_element(c, k.v[i], only);
        if (parse_row(c, k.v[i], &r) != 0)
            return -1;
    }
    struct nexo_op *op = new_op(c, el, NEXO_OP_INSERT, r.table);
    op->names = r.names.items;
    op->nnames = r.names.n;
    op->values = r.values.items;
    op->nrows = r.n;
    return 0;
}

static int parse_data(struct ctx *c, const xmlNode *el)
{
    static const char *const names[] = {"update", "insert", "delete", NULL};
    int (*const parse[])(struct ctx *, const xmlNode *) = {parse_update, parse_insert,
                                                           parse_delete};
    struct kids k;
    if (check_attrs(c, el, no_attrs) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    for (size_t i = 0; i < k.n; i++) {
        int w = find_name(names, nm(k.v[i]));
        if (w < 0)
            return unknown_element(c, k.v[i], names);
        if (parse[w](c, k.v[i]) != 0)
            return -1;
    }
    return 0;
}

/* ---- <custom>, <cleanup> ------------------------------------------------ */

/* A path below a root: relative, no ".." component; "." and empty
 * components dropped (so a trailing '/' goes). XML text cannot hold NUL;
 * other control characters are refused. */
static int rel_path(struct ctx *c, int line, const char *what, const char *root, const char *raw,
                    const char **out)
{
    const char *s = trimmed(c, raw);
    if (!*s)
        return fail(c, line, "%s is empty", what);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(c, line, "%s '%s' contains a control character", what, shown(c, s));
    if (s[0] == '/')
        return fail(c, line, "%s '%s' is absolute", what, shown(c, s));
    char *o = arena_alloc(c->a, strlen(s) + 1);
    size_t len = 0;
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return fail(c, line, "%s '%s' leaves %s", what, shown(c, s), root);
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (len > 0)
                o[len++] = '/';
            memcpy(o + len, p, n);
            len += n;
        }
        p += n + (p[n] == '/');
    }
    if (len == 0)
        return fail(c, line, "%s '%s' names %s itself", what, shown(c, s), root);
    *out = o;
    return 0;
}

static int parse_custom(struct ctx *c, const xmlNode *el)
{
    static const char *const only[] = {"script", NULL};
    struct kids k;
    if (check_attrs(c, el, no_attrs) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    if (k.n == 0)
        return fail(c, line_of(el), "<custom> has no <script>");
    for (size_t i = 0; i < k.n; i++) {
        const char *text, *path;
        int line = line_of(k.v[i]);
        if (strcmp(nm(k.v[i]), "script") != 0)
            return unknown_element(c, k.v[i], only);
        if (check_attrs(c, k.v[i], no_attrs) != 0 || text_of(c, k.v[i], &text) != 0 ||
            rel_path(c, line, "script path", "the package root", text, &path) != 0)
            return -1;
        nx_script *s = vec_push(c->a, &c->scripts);
        s->path = (char *)path;
        s->line = line;
    }
    return 0;
}

/* clear_cache: a folder name under var/cache/. */
static int cache_name(struct ctx *c, int line, const char *raw, const char **out)
{
    const char *s = trimmed(c, raw);
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
    if (n == 0 || s[n] || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return fail(c, line, "cache name '%s' is not a folder name under var/cache/ "
                    "([A-Za-z0-9_.-]+)", shown(c, s));
    *out = s;
    return 0;
}

static int parse_cleanup(struct ctx *c, const xmlNode *el)
{
    static const char *const names[] = {"delete_file", "delete_directory", "clear_cache", NULL};
    struct kids k;
    if (check_attrs(c, el, no_attrs) != 0 || kids_of(c, el, &k) != 0)
        return -1;
    for (size_t i = 0; i < k.n; i++) {
        const char *text;
        int w = find_name(names, nm(k.v[i]));
        if (w < 0)
            return unknown_element(c, k.v[i], names);
        const char *path;
        enum nx_cleanup_kind kind = (enum nx_cleanup_kind)(NX_CLEANUP_DELETE_FILE + w);
        int line = line_of(k.v[i]);
        if (check_attrs(c, k.v[i], no_attrs) != 0 || text_of(c, k.v[i], &text) != 0)
            return -1;
        int rc = kind == NX_CLEANUP_CLEAR_CACHE
                     ? cache_name(c, line, text, &path)
                     : rel_path(c, line, "cleanup path", "the site root", text, &path);
        if (rc != 0)
            return -1;
        nx_cleanup *cl = vec_push(c->a, &c->cleanup);
        cl->kind = kind;
        cl->path = (char *)path;
        cl->line = line;
    }
    return 0;
}

/* ---- root --------------------------------------------------------------- */

static int version_attr(struct ctx *c, const xmlNode *el, const char *name, nx_semver *v,
                        const char **out)
{
    nx_err ve;
    if (need(c, el, name, out) != 0)
        return -1;
    if (nx_semver_parse(*out, v, &ve) == 0)
        return 0;
    return fail(c, line_of(el), "%s on <%s>: %s", name, nm(el), ve.msg);
}

/* upgrade_FROM_TO.xml must say from="FROM" to="TO". */
static int check_file_name(struct ctx *c, const xmlNode *root, const char *from, const char *to)
{
    const char *base = nx_basename(c->file);
    char *a = NULL, *b = NULL;
    int r = nx_mig_name_split(base, &a, &b), rc = 0;
    if (r < 0)
        rc = fail(c, line_of(root), "file name %s is not upgrade_FROM_TO.xml", shown(c, base));
    else if (r > 0 && !from)
        rc = fail(c, line_of(root), "file %s has an <install> root, not <upgrade>", shown(c, base));
    else if (r > 0 && (strcmp(a, from) != 0 || strcmp(b, to) != 0))
        rc = fail(c, line_of(root), "from=\"%s\" to=\"%s\" do not match the file name %s",
                  shown(c, from), shown(c, to), shown(c, base));
    free(a);
    free(b);
    return rc;
}

static int parse_upgrade_attrs(struct ctx *c, const xmlNode *root, nx_mig *m)
{
    static const char *const allowed[] = {"from", "to", NULL};
    nx_semver vf, vt;
    const char *from, *to;
    if (check_attrs(c, root, allowed) != 0 || version_attr(c, root, "from", &vf, &from) != 0)
        return -1;
    if (version_attr(c, root, "to", &vt, &to) != 0) {
        nx_semver_free(&vf);
        return -1;
    }
    int cmp = nx_semver_cmp(&vf, &vt);
    nx_semver_free(&vf);
    nx_semver_free(&vt);
    if (cmp >= 0)
        return fail(c, line_of(root), "from %s is not older than to %s (migrations go forward)",
                    shown(c, from), shown(c, to));
    m->from = (char *)from;
    m->to = (char *)to;
    return check_file_name(c, root, from, to);
}

static int parse_install_attrs(struct ctx *c, const xmlNode *root, nx_mig *m)
{
    static const char *const allowed[] = {"version", NULL};
    nx_semver v;
    const char *version;
    if (check_attrs(c, root, allowed) != 0 || version_attr(c, root, "version", &v, &version) != 0)
        return -1;
    nx_semver_free(&v);
    m->is_install = 1;
    m->to = (char *)version;
    return check_file_name(c, root, NULL, NULL);
}

enum { K_DESCRIPTION, K_DATABASE, K_DATA, K_CUSTOM, K_CLEANUP, K_COUNT };

static int parse_root(struct ctx *c, const xmlNode *root, nx_mig *m)
{
    static const char *const upgrade_kids[] = {"description", "database", "data", "custom",
                                               "cleanup", NULL};
    static const char *const install_kids[] = {"description", "database", "data", NULL};
    const xmlNode *slots[K_COUNT] = {NULL, NULL, NULL, NULL, NULL};
    if (root->ns || root->nsDef)
        return fail(c, line_of(root), "namespaces are not allowed (on <%s>)", nm(root));
    int install = strcmp(nm(root), "install") == 0;
    if (!install && strcmp(nm(root), "upgrade") != 0)
        return fail(c, line_of(root), "root element <%s> is neither <upgrade> nor <install>",
                    shown(c, nm(root)));
    if ((install ? parse_install_attrs(c, root, m) : parse_upgrade_attrs(c, root, m)) != 0 ||
        slot_kids(c, root, install ? install_kids : upgrade_kids, slots) != 0)
        return -1;
    const char *desc = NULL;
    if (slots[K_DESCRIPTION] && (check_attrs(c, slots[K_DESCRIPTION], no_attrs) != 0 ||
                                 text_of(c, slots[K_DESCRIPTION], &desc) != 0))
        return -1;
    m->description = desc ? trimmed(c, desc) : NULL;
    /* The schema first, then the data, wherever each stands in the file. */
    if ((slots[K_DATABASE] && parse_database(c, slots[K_DATABASE]) != 0) ||
        (slots[K_DATA] && parse_data(c, slots[K_DATA]) != 0) ||
        (slots[K_CUSTOM] && parse_custom(c, slots[K_CUSTOM]) != 0))
        return -1;
    return slots[K_CLEANUP] ? parse_cleanup(c, slots[K_CLEANUP]) : 0;
}

/* ---- API ---------------------------------------------------------------- */

int nx_mig_ident_ok(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    return s[n] == '\0' && n <= 63;
}

static int parse_file(struct ctx *c, nx_mig *m)
{
    char *buf = NULL;
    size_t len = 0;
    if (nx_read_file(c->file, &buf, &len, MIG_MAX_FILE, c->e) != 0)
        return -1;
    xmlDoc *doc = read_doc(c, buf, len);
    free(buf);
    if (!doc)
        return -1;
    const xmlNode *root = xmlDocGetRootElement(doc);
    int rc = root ? parse_root(c, root, m) : fail(c, 1, "malformed XML: no root element");
    xmlFreeDoc(doc);
    return rc;
}

nx_mig *nx_mig_load(const char *path, long long timestamp, nx_err *e)
{
    struct arena *a = nx_xcalloc(1, sizeof *a);
    nx_mig *m = arena_alloc(a, sizeof *m);
    m->mem = a;
    m->file = arena_strdup(a, path);
    struct ctx c = {a, m->file, timestamp, e, VEC(struct nexo_op), VEC(nx_script),
                    VEC(nx_cleanup), VEC(struct seen)};
    if (parse_file(&c, m) != 0) {
        nx_mig_free(m);
        return NULL;
    }
    m->ops = c.ops.items;
    m->nops = c.ops.n;
    m->scripts = c.scripts.items;
    m->nscripts = c.scripts.n;
    m->cleanup = c.cleanup.items;
    m->ncleanup = c.cleanup.n;
    return m;
}

void nx_mig_free(nx_mig *m)
{
    if (m)
        arena_free(m->mem);
}
