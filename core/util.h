/* Internal helpers shared by the host (not part of the module ABI). */
#ifndef NX_UTIL_H
#define NX_UTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <stdarg.h>

#define NX_ERRLEN 2048

/* Every internal function that can fail returns 0 on success and -1 on
 * failure, and then fills an nx_err with one line that names what failed
 * and where (file:line, step, URL ...). */
typedef struct nx_err {
    char msg[NX_ERRLEN];
} nx_err;

#if defined(__GNUC__)
#define NX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NX_PRINTF(a, b)
#endif

void nx_seterr(nx_err *e, const char *fmt, ...) NX_PRINTF(2, 3);
void nx_vseterr(nx_err *e, const char *fmt, va_list ap);
/* Make msg (a buffer of size bytes) one line: control characters, such as
 * a newline inside a name from a package or an index, become \n, \t,
 * \xNN. Every nx_err message goes through it, so an error is one line and
 * outside input cannot forge lines of a log. */
void nx_one_line(char *msg, size_t size);
/* Prefix an existing message: "prefix: old message". */
void nx_preferr(nx_err *e, const char *fmt, ...) NX_PRINTF(2, 3);

/* Allocation that aborts on out-of-memory (the tool cannot do anything
 * sensible without memory, and partial work is undone by the journal). */
void *nx_xmalloc(size_t n);
void *nx_xcalloc(size_t n, size_t m);
void *nx_xrealloc(void *p, size_t n);
char *nx_xstrdup(const char *s);
char *nx_xstrndup(const char *s, size_t n);
char *nx_xasprintf(const char *fmt, ...) NX_PRINTF(1, 2);

/* Read len bytes from fd, fewer only at its end (EINTR retried): the
 * count, or -1 with errno. */
ssize_t nx_read_full(int fd, void *buf, size_t len);
/* Read a whole file (NUL-terminated); *len gets its length. */
int nx_read_file(const char *path, char **out, size_t *len, size_t max, nx_err *e);
/* Write a file atomically: a temp file with a random name created with
 * O_EXCL|O_NOFOLLOW in the same folder (nothing planted there is ever
 * opened or truncated), fsync, rename, fsync the folder. The folder is
 * opened as nx_open_dir_path does (fsat.h: no link someone else could have
 * put there is followed) and all of it happens relative to it. */
int nx_write_file_atomic(const char *path, const void *data, size_t len,
                         int mode, nx_err *e);
/* mkdir -p with the given mode for created folders. */
int nx_mkdirs(const char *path, int mode, nx_err *e);
int nx_fsync_dir(const char *dir, nx_err *e);
/* Join two path parts with exactly one '/'; malloc'ed. */
char *nx_path_join(const char *a, const char *b);
/* Folder part of a path, malloc'ed ("." when there is none). */
char *nx_dirname(const char *path);
/* Last component of a path (pointer into path). */
const char *nx_basename(const char *path);

/* Remove a tree by descriptor (fsat.h, nx_rmtree_at): the folder above is
 * opened as nx_open_dir_path does, then no symbolic link is followed (a
 * link is removed), no other file system is entered (refused), and
 * messages name the path that failed. A missing path is fine. */
int nx_rmtree(const char *path, nx_err *e);

/* Monotonic milliseconds and wall-clock epoch milliseconds. */
long long nx_now_ms(void);
long long nx_mono_ms(void);

#endif
