/* NEXO_FAULT (contracts §8): make the host fail or kill itself at a
 * point of a step instance. */
#ifndef NX_FAULT_H
#define NX_FAULT_H

#include "util.h"

enum nx_point { NX_BEFORE_RUN, NX_AFTER_RUN, NX_BEFORE_UNDO, NX_AFTER_UNDO, NX_CHECKPOINT };
enum nx_action { NX_NONE = 0, NX_FAIL, NX_KILL };

typedef struct nx_faults nx_faults;

/* "<step>:<point>[:<n>]:<action>[,...]"; NULL or "" gives an empty set.
 * For checkpoint n is required (the n-th checkpoint the step reports in
 * its run); for the other points an optional n picks the n-th time the
 * point is reached in this process (default: the first). */
nx_faults *nx_faults_parse(const char *spec, nx_err *e);
void nx_faults_free(nx_faults *f);
/* Is there a fault at this point? NX_KILL kills the process right here
 * (SIGKILL) after a note on stderr; NX_FAIL is returned to the caller. */
enum nx_action nx_fault_hit(nx_faults *f, const char *step, enum nx_point p, unsigned n);
const char *nx_point_name(enum nx_point p);

#endif
