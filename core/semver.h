/* SemVer 2.0.0 versions, version codes and version ranges. */
#ifndef NX_SEMVER_H
#define NX_SEMVER_H

#include <stdint.h>
#include "util.h"

typedef struct nx_semver {
    uint64_t major, minor, patch;
    char *pre;    /* pre-release identifiers without the '-', NULL if none */
    char *build;  /* build metadata without the '+', NULL if none */
} nx_semver;

/* Strict SemVer 2.0.0 (semver.org §2, §9, §10). The error names the
 * string and what is wrong with it. */
int nx_semver_parse(const char *s, nx_semver *out, nx_err *e);
/* Lenient: "8.2.7-1~deb12u1", "15.18 (Debian 15.18-0+deb12u1)",
 * "10.11.6-MariaDB-0+deb12u1", "12.0", "8": the leading 1 to 3 numeric
 * components; missing ones are 0; the rest is ignored. */
int nx_semver_parse_loose(const char *s, nx_semver *out, nx_err *e);
void nx_semver_free(nx_semver *v);
/* Precedence per semver.org §11 (build metadata ignored): -1, 0, 1. */
int nx_semver_cmp(const nx_semver *a, const nx_semver *b);
/* Convenience on strings; returns -2 and fills e when one does not parse. */
int nx_semver_cmp_str(const char *a, const char *b, nx_err *e);
/* MAJOR*1000000 + MINOR*1000 + PATCH; error when MINOR or PATCH >= 1000
 * (or the result would overflow). */
int nx_version_code(const nx_semver *v, uint64_t *code, nx_err *e);
/* "1.2.3-rc.1+b5" back to text; malloc'ed. */
char *nx_semver_str(const nx_semver *v);

/* Channels (contracts §11, docs/releases.md "Channels"). A version's
 * channel comes from the first identifier of its pre-release tag, letters
 * compared without case and trailing digits ignored ("rc.1", "RC2" -> rc;
 * "beta", "beta.2" -> beta; "alpha" -> alpha); no tag is stable; any
 * other tag ("dev.3", "preview", "snapshot") is alpha: the least stable,
 * so only sites that take every pre-release get it. */
#define NX_CHANNELS "stable|rc|beta|alpha"
const char *nx_semver_channel(const nx_semver *v);
/* The channel of a version string; NULL when it does not parse. */
const char *nx_version_channel(const char *version);
/* 1 when a site on `site` ([server] channel; NULL is stable) is offered
 * releases of `channel`: stable admits stable; rc admits rc too; beta
 * admits beta and rc; alpha admits every pre-release. 0 otherwise (an
 * unknown name admits nothing but stable). */
int nx_channel_admits(const char *site, const char *channel);

/* A range: OR ("||") of AND-sets (space separated) of comparators.
 * Accepted: "*", "", ">=1.2.0", ">1.2", "<2.0.0", "<=2", "=1.2.3",
 * "1.2.3" (a bare version in a requirement means "at least", as in the
 * spec's version.php requires), ">=1.2.0 <2.0.0", "^1.2", "~1.2.3",
 * "a || b". Partial versions fill missing parts with 0. */
typedef struct nx_range nx_range;
int nx_range_parse(const char *s, nx_range **out, nx_err *e);
void nx_range_free(nx_range *r);
int nx_range_match(const nx_range *r, const nx_semver *v);
/* 1 matches, 0 does not, -1 on a parse error of either string. */
int nx_range_match_str(const char *range, const char *version, nx_err *e);

#endif
