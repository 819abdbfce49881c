/* The update lock: flock(2) on STATE/lock, released by the kernel when
 * the holder dies. The holder writes its pid and update id into the file
 * so that `status` can name it. */
#ifndef NX_LOCK_H
#define NX_LOCK_H

#include "util.h"

/* 0: acquired (*fd keeps it), 1: held by another process (e says who),
 * -1: error. */
int nx_lock_acquire(const char *state_dir, const char *update_id, int *fd, nx_err *e);
/* Rewrite the holder's record (e.g. once the update id is known). */
int nx_lock_note(int fd, const char *update_id);
void nx_lock_release(int fd);
/* 1 held (pid and id filled when readable), 0 free, -1 error. */
int nx_lock_probe(const char *state_dir, long *pid, char *id, size_t idlen, nx_err *e);

#endif
