/* Shared helpers of the Check unit tests: private temporary folders and
 * small files in them. */
#ifndef NX_TESTUTIL_H
#define NX_TESTUTIL_H

/* tu_base: one folder per test case, made and removed by the runner (use
 * as an unchecked fixture, so it goes even when a test fails); tu_dir: one
 * folder per test inside it (a checked fixture). Both 0755: the loader
 * refuses folders others can write to. */
extern char tu_base[64];
extern char tu_dir[128];

void tu_base_setup(void);
void tu_base_teardown(void);
void tu_tmp_setup(void);
void tu_tmp_teardown(void);

/* Write `text` to tu_dir/name; the malloc'ed path. */
char *tu_write(const char *name, const char *text);
/* Copy a file (mode 0755). */
void tu_copy(const char *src, const char *dst);

#endif
