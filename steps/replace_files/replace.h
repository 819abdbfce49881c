/* replace_files: helpers shared by its sources (not exported). */
#ifndef NX_REPLACE_H
#define NX_REPLACE_H

#include <nexo/step.h>
#include <stddef.h>

/* A list of relative paths split from a space/comma separated value. */
struct rp_list {
    char **v;
    size_t n;
};

void rp_split(const char *s, struct rp_list *out);
void rp_list_free(struct rp_list *l);
/* 1 if rel is a plain relative path: no leading '/', no '.', '..' or
 * empty component. */
int rp_plain(const char *rel);
/* 1 if a equals b or one lies below the other. */
int rp_overlap(const char *a, const char *b);
/* The part of q below p ("p/x/y" -> "x/y"), NULL when q is not below p. */
const char *rp_below(const char *p, const char *q);
/* Inode of a path (lstat), 0 when it does not exist. */
unsigned long long rp_ino(const char *path);

/* plandiff.c: log what swapping the staged tree (stagefd) in for the
 * site's (rootfd) under each managed path changes, file by file: added,
 * changed, removed, preserved paths left out. */
int rp_plan_diff(const struct nexo_host *h, nexo_ctx *c, int rootfd, int stagefd,
                 const struct rp_list *managed, const struct rp_list *preserve);

#endif
