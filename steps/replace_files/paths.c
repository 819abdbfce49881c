/* Path lists and checks of the replace_files step. */
#include "replace.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void rp_split(const char *s, struct rp_list *out)
{
    out->v = NULL;
    out->n = 0;
    const char *p = s ? s : "";
    while (*p) {
        size_t skip = strspn(p, " \t,");
        p += skip;
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        out->v = nx_xrealloc(out->v, (out->n + 1) * sizeof *out->v);
        out->v[out->n++] = nx_xstrndup(p, len);
        p += len;
    }
}

void rp_list_free(struct rp_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int rp_plain(const char *rel)
{
    if (!rel || !*rel || rel[0] == '/')
        return 0;
    const char *p = rel;
    for (;;) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (p[len] == '\0')
            return 1;
        p += len + 1;
    }
}

const char *rp_below(const char *p, const char *q)
{
    size_t n = strlen(p);
    if (strncmp(p, q, n) != 0 || q[n] != '/' || q[n + 1] == '\0')
        return NULL;
    return q + n + 1;
}

int rp_overlap(const char *a, const char *b)
{
    return strcmp(a, b) == 0 || rp_below(a, b) || rp_below(b, a);
}

unsigned long long rp_ino(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    return (unsigned long long)st.st_ino;
}
