/*
 * The offer: what an update installs, as facts the command records for
 * the steps (host->info("param.NAME")). The update check (API or static
 * index) fills them for `core` and `plugin`; `pipeline run --param` sets
 * them by hand (integrators, tests).
 */
#ifndef NX_OFFER_H
#define NX_OFFER_H

#define NX_OFFER_URL "param.download_url"       /* absolute URL of the package */
#define NX_OFFER_SHA256 "param.sha256"          /* hex, from checksum.sha256 */
#define NX_OFFER_SIGNATURE "param.signature"    /* base64 Ed25519 of the package */
#define NX_OFFER_SIZE "param.size_bytes"        /* decimal */
#define NX_OFFER_COMPONENT "param.component"    /* "core" | "plugin:SLUG" */
#define NX_OFFER_VERSION "param.version"        /* the offered version */
#define NX_OFFER_INSTALLED "param.installed"    /* the installed version (none: fresh) */
#define NX_OFFER_DOWNGRADE "param.allow_downgrade" /* "1": --to + --allow-downgrade */
#define NX_OFFER_PACKAGE "param.package"        /* a local package file (install --package) */

/* What the steps publish for the steps after them (host->shared_get). */
#define NX_SHARED_PACKAGE "package_file"        /* download: the downloaded file */
#define NX_SHARED_PACKAGE_SHA256 "package_sha256" /* download: its sha256, checked
                                                     against the offer while downloading */
#define NX_SHARED_MANIFEST "manifest_file"      /* verify: a copy of nexo-release.json */
#define NX_SHARED_STAGING "staging_dir"         /* extract: the staged payload */
#define NX_SHARED_STAGING_PATH "staging_path"   /* its path, for journals and messages
                                                   (staging_dir is a private folder) */

/* A shared KEY published with KEY.private = "<st_dev>:<st_ino>" of the
 * folder it names is a private folder (core/pdir.h): shared_get(KEY)
 * gives a path through a descriptor the host checked, never the name
 * the site's owner could replace. */
#define NX_PDIR_SUFFIX ".private"

#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

static inline void nx_pdir_id(const struct stat *st, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIuMAX ":%" PRIuMAX, (uintmax_t)st->st_dev, (uintmax_t)st->st_ino);
}

#endif
