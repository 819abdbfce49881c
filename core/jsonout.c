/* --json's one document on stdout, also when a command fails (jsonout.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "jsonout.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define OUT_MAX (256u << 20) /* bytes of stdout kept for the document */

int nx_jsonout_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--json") == 0)
            return 1;
    }
    return 0;
}

static void keep(char *dst, const char *src)
{
    snprintf(dst, NX_ERRLEN, "%s", src);
}

/* One whole line written on stderr: remember it. A terminal's redrawn
 * progress bar counts from its last carriage return. */
static void line_done(nx_jsonout *j)
{
    j->line[j->nline] = '\0';
    j->nline = 0;
    char *l = strrchr(j->line, '\r');
    l = l ? l + 1 : j->line;
    if (!*l || *l == '\033')
        return;
    size_t plen = strlen(j->prog);
    if (strncmp(l, "error: ", 7) == 0)
        keep(j->last_error, l + 7);
    else if (strncmp(l, j->prog, plen) == 0 && strncmp(l + plen, ": ", 2) == 0)
        keep(j->last_error, l + plen + 2);
    else if (strncmp(l, "Usage: ", 7) == 0)
        keep(j->last_error, l);
    keep(j->last_line, l);
}

/* The stream installed as stderr: everything goes to fd 2 at once (a
 * prompt without its newline included); lines are looked at. */
static ssize_t tee_write(void *cookie, const char *buf, size_t size)
{
    nx_jsonout *j = cookie;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(STDERR_FILENO, buf + off, size - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* a closed stderr: the lines are still looked at */
        off += (size_t)w;
    }
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n')
            line_done(j);
        else if (j->nline + 1 < sizeof j->line)
            j->line[j->nline++] = buf[i];
    }
    return (ssize_t)size;
}

void nx_jsonout_begin(nx_jsonout *j, const char *prog)
{
    memset(j, 0, sizeof *j);
    j->prog = prog;
    j->saved_stdout = -1;
    j->buf_fd = -1;
    cookie_io_functions_t io = { .write = tee_write };
    j->tee = fopencookie(j, "w", io);
    if (j->tee) {
        setvbuf(j->tee, NULL, _IONBF, 0);
        fflush(stderr);
        j->saved_stderr = stderr;
        stderr = j->tee; /* glibc: stdin, stdout and stderr are assignable */
    }
    fflush(stdout);
    j->buf_fd = memfd_create("nexo-json-stdout", MFD_CLOEXEC);
    if (j->buf_fd < 0)
        return;
    j->saved_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (j->saved_stdout < 0 || dup2(j->buf_fd, STDOUT_FILENO) < 0) {
        if (j->saved_stdout >= 0)
            close(j->saved_stdout);
        j->saved_stdout = -1;
        close(j->buf_fd);
        j->buf_fd = -1;
    }
}

static void write_fd(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

/* What the command wrote on stdout (malloc'ed, NUL-terminated). */
static char *diverted(const nx_jsonout *j, size_t *len)
{
    *len = 0;
    off_t end = lseek(j->buf_fd, 0, SEEK_END);
    if (end < 0 || lseek(j->buf_fd, 0, SEEK_SET) < 0)
        return nx_xstrdup("");
    size_t want = (size_t)end > OUT_MAX ? OUT_MAX : (size_t)end;
    char *buf = nx_xmalloc(want + 1);
    while (*len < want) {
        ssize_t r = read(j->buf_fd, buf + *len, want - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        *len += (size_t)r;
    }
    buf[*len] = '\0';
    return buf;
}

/* A JSON string of msg; bytes that are not UTF-8 become '?'. */
static json_t *utf8_string(const char *msg)
{
    json_t *s = json_string(msg);
    if (s)
        return s;
    char *copy = nx_xstrdup(msg);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    s = json_string(copy);
    free(copy);
    return s;
}

static void print_doc(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        write_fd(STDOUT_FILENO, s, strlen(s));
        write_fd(STDOUT_FILENO, "\n", 1);
        free(s);
    }
}

int nx_jsonout_end(nx_jsonout *j, int code, int failed)
{
    if (j->tee) {
        fflush(stderr);
        if (j->nline)
            line_done(j);
        stderr = j->saved_stderr;
        fclose(j->tee);
        j->tee = NULL;
    }
    if (j->saved_stdout < 0)
        return code;
    fflush(stdout);
    dup2(j->saved_stdout, STDOUT_FILENO);
    close(j->saved_stdout);
    j->saved_stdout = -1;
    size_t len;
    char *out = diverted(j, &len);
    close(j->buf_fd);
    j->buf_fd = -1;
    if (!failed) {
        write_fd(STDOUT_FILENO, out, len);
        free(out);
        return code;
    }
    const char *msg = j->last_error[0] ? j->last_error : j->last_line;
    char fallback[64];
    if (!*msg) {
        snprintf(fallback, sizeof fallback, "%s failed (exit %d)", j->prog, code);
        msg = fallback;
    }
    json_t *doc = json_loadb(out, len, 0, NULL);
    if (json_is_object(doc)) {
        json_t *err = json_object_get(doc, "error");
        int has_error = json_is_string(err) && json_string_length(err) > 0;
        if (has_error && json_is_integer(json_object_get(doc, "exit"))) {
            write_fd(STDOUT_FILENO, out, len); /* the command's own, unchanged */
        } else {
            if (!has_error)
                json_object_set_new(doc, "error", utf8_string(msg));
            if (!json_object_get(doc, "exit"))
                json_object_set_new(doc, "exit", json_integer(code));
            print_doc(doc);
        }
    } else {
        if (len) /* not a document: kept, on stderr */
            write_fd(STDERR_FILENO, out, len);
        json_decref(doc);
        doc = json_pack("{s:o, s:i}", "error", utf8_string(msg), "exit", code);
        print_doc(doc);
    }
    json_decref(doc);
    free(out);
    return code;
}
