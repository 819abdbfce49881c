/* Shared between mig.c and migpath.c; not part of the mig.h API. */
#ifndef NX_MIG_INTERNAL_H
#define NX_MIG_INTERNAL_H

/* Split a file name "upgrade_A_B.xml" into malloc'ed *from = "A" and
 * *to = "B". Returns 0 when the name does not start with "upgrade_" and
 * end with ".xml" (not a migration file), -1 when it does but is not
 * upgrade_A_B.xml with one '_' between two non-empty parts (SemVer has no
 * '_'), 1 on success. The versions are not checked. */
int nx_mig_name_split(const char *name, char **from, char **to);

#endif
