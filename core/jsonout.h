/* --json of both programs (contracts §1): one JSON document on stdout and
 * nothing else, also when the command fails: then the document is
 * {"error": "<the message>", "exit": <code>, ...}.
 *
 * nx_jsonout_begin, before anything is parsed, diverts stdout into a
 * memory file and passes stderr through a stream that keeps the last error
 * line ("error: ...", "PROG: ...", "Usage: ..."). nx_jsonout_end puts both
 * back and writes the one document: on success what the command printed,
 * unchanged; on failure the command's own document with "exit" and
 * "error" added when it lacks them, or, when the command printed none,
 * {"error", "exit"} (anything else it printed goes to stderr). */
#ifndef NX_JSONOUT_H
#define NX_JSONOUT_H

#include <stdio.h>
#include "util.h"

typedef struct nx_jsonout {
    const char *prog;        /* "nexo-update: " lines are errors of prog */
    int saved_stdout;        /* the real stdout, -1 when not diverted */
    int buf_fd;              /* what the command wrote on stdout */
    FILE *saved_stderr;      /* the real stderr stream, NULL when not wrapped */
    FILE *tee;               /* the stream installed as stderr */
    char line[NX_ERRLEN];    /* the stderr line being written */
    size_t nline;
    char last_error[NX_ERRLEN]; /* the last error line, its prefix dropped */
    char last_line[NX_ERRLEN];  /* the last line that was not empty */
} nx_jsonout;

/* Is "--json" among argv[1..] before a "--"? */
int nx_jsonout_wanted(int argc, char **argv);
/* Divert stdout and wrap stderr (prog names the program's own message
 * prefix). Without memory files nothing is diverted and end only adds
 * the error document when it can. */
void nx_jsonout_begin(nx_jsonout *j, const char *prog);
/* Put stdout and stderr back and write the document; returns code.
 * failed: the command failed (not every exit code other than 0 is a
 * failure: nexo-update check's 100 says updates are available). */
int nx_jsonout_end(nx_jsonout *j, int code, int failed);

#endif
