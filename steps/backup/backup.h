/* Internals of the backup step (not exported). */
#ifndef NX_BACKUP_H
#define NX_BACKUP_H

#include <nexo/step.h>
#include <stdint.h>

/* The paths below the site root to archive: [site] managed, ".env" when
 * it exists, and every other top-level path that is not preserved (and not
 * MAINTENANCE or a .nexo-* folder). Preserved paths below them
 * (modules/plugins) are left out by bk_write_tarball. For a plugin (fact
 * component_dir): its folder alone. */
struct bk_list {
    char **v;
    size_t n;
};

void bk_list_free(struct bk_list *l);
/* Split the managed list and add ".env" if it exists under root. */
void bk_sources(const struct nexo_host *h, nexo_ctx *c, const char *root, struct bk_list *out);
/* Bytes of the regular files below root/rel (no symlinks followed; a
 * missing path counts 0). */
uint64_t bk_tree_size(const char *root, const char *rel);

/* Write the tar + zstd archive of the sources to path (created 0600,
 * fsync'ed); *entries gets the number of entries written. */
int bk_write_tarball(const struct nexo_host *h, nexo_ctx *c, const char *root,
                     const struct bk_list *src, const char *path, uint64_t total,
                     uint64_t *entries);

/* Retention in the backups folder; `current` is never removed. Returns
 * how many backups it removed (failures are logged as warnings). */
int bk_retention(const struct nexo_host *h, nexo_ctx *c, const char *dir, const char *current,
                 long keep, long keep_days);

#endif
