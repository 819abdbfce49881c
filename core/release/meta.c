/* nexo-release: release metadata from version.php, dates, the manifest. */
#include "release.h"
#include "phpver.h"
#include "semver.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLUG_MAX 64

int rel_component_parse(const char *component, char **slug, nx_err *e)
{
    *slug = NULL;
    if (strcmp(component, "core") == 0)
        return 0;
    if (strncmp(component, "plugin:", 7) != 0) {
        nx_seterr(e, "component '%s': expected core or plugin:SLUG", component);
        return -1;
    }
    const char *s = component + 7;
    size_t n = strlen(s);
    int ok = n > 0 && n <= SLUG_MAX &&
             (islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]));
    for (size_t i = 1; ok && i < n; i++)
        ok = islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
             s[i] == '-';
    if (!ok) {
        nx_seterr(e, "component '%s': a plugin slug is 1 to %d lower-case letters, digits, '_' "
                     "or '-', starting with a letter or digit", component, SLUG_MAX);
        return -1;
    }
    *slug = nx_xstrdup(s);
    return 0;
}

char *rel_version_file(const char *component, const char *src)
{
    return nx_path_join(src, strcmp(component, "core") == 0 ? "core/version.php" : "version.php");
}

int rel_date_parse(const char *s, time_t *t)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return -1;
    struct tm tm = { 0 };
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    int y = tm.tm_year, mo = tm.tm_mon, d = tm.tm_mday;
    time_t v = timegm(&tm);
    struct tm back;
    if (v == (time_t)-1 || !gmtime_r(&v, &back))
        return -1;
    if (back.tm_year != y || back.tm_mon != mo || back.tm_mday != d)
        return -1;
    if (t)
        *t = v;
    return 0;
}

void rel_iso_time(time_t t, char buf[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *today_utc(void)
{
    time_t now = time(NULL);
    struct tm tm;
    char buf[16];
    gmtime_r(&now, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return nx_xstrdup(buf);
}

void rel_meta_free(struct rel_meta *m)
{
    free(m->component);
    free(m->slug);
    free(m->version);
    free(m->release_date);
    free(m->branch);
    free(m->build);
    json_decref(m->requires);
    json_decref(m->compatibility);
    json_decref(m->dependencies);
    memset(m, 0, sizeof *m);
}

static int take_version(struct rel_meta *m, json_t *v, const char *file, nx_err *e)
{
    const char *ver = json_string_value(json_object_get(v, "version"));
    if (!ver) {
        nx_seterr(e, "%s: 'version' is missing or not a string", file);
        return -1;
    }
    nx_semver sv;
    if (nx_semver_parse(ver, &sv, e) != 0) {
        nx_preferr(e, "%s: 'version'", file);
        return -1;
    }
    int rc = nx_version_code(&sv, &m->version_code, e);
    nx_semver_free(&sv);
    if (rc != 0) {
        nx_preferr(e, "%s: 'version'", file);
        return -1;
    }
    m->version = nx_xstrdup(ver);
    json_t *code = json_object_get(v, "version_code");
    if (code && (!json_is_integer(code) || json_integer_value(code) < 0 ||
                 (uint64_t)json_integer_value(code) != m->version_code)) {
        nx_seterr(e, "%s: 'version_code' does not match version %s (expected %llu)", file, ver,
                  (unsigned long long)m->version_code);
        return -1;
    }
    return 0;
}

static int take_date(struct rel_meta *m, json_t *v, const char *date, const char *file, nx_err *e)
{
    json_t *jd = json_object_get(v, "release_date");
    const char *d = json_string_value(jd);
    if (jd && (!d || rel_date_parse(d, NULL) != 0)) {
        nx_seterr(e, "%s: 'release_date' is not a date (YYYY-MM-DD)", file);
        return -1;
    }
    if (date && rel_date_parse(date, NULL) != 0) {
        nx_seterr(e, "--date '%s': not a date (YYYY-MM-DD)", date);
        return -1;
    }
    if (d && date && strcmp(d, date) != 0) {
        nx_seterr(e, "%s: 'release_date' %s disagrees with --date %s", file, d, date);
        return -1;
    }
    m->release_date = d ? nx_xstrdup(d) : date ? nx_xstrdup(date) : today_utc();
    return 0;
}

static char *default_build(const char *date)
{
    return nx_xasprintf("%.4s%.2s%.2s", date, date + 5, date + 8);
}

static int take_strings(struct rel_meta *m, json_t *v, const char *file, nx_err *e)
{
    json_t *b = json_object_get(v, "branch");
    if (b && (!json_is_string(b) || !*json_string_value(b))) {
        nx_seterr(e, "%s: 'branch' must be a non-empty string", file);
        return -1;
    }
    m->branch = nx_xstrdup(b ? json_string_value(b) : "stable");
    json_t *bu = json_object_get(v, "build");
    if (bu && json_is_integer(bu))
        m->build = nx_xasprintf("%lld", (long long)json_integer_value(bu));
    else if (bu && json_is_string(bu))
        m->build = nx_xstrdup(json_string_value(bu));
    else if (bu) {
        nx_seterr(e, "%s: 'build' must be a string or an integer", file);
        return -1;
    } else
        m->build = default_build(m->release_date);
    return 0;
}

/* An object of version ranges ('requires', 'dependencies'), or absent. */
static int take_ranges(json_t *v, const char *key, json_t **out, int keep_absent,
                       const char *file, nx_err *e)
{
    json_t *o = json_object_get(v, key);
    if (!o || (json_is_array(o) && json_array_size(o) == 0)) {
        *out = keep_absent && !o ? NULL : json_object();
        return 0;
    }
    if (!json_is_object(o)) {
        nx_seterr(e, "%s: '%s' must be an array of NAME => VERSION RANGE", file, key);
        return -1;
    }
    const char *k;
    json_t *r;
    json_object_foreach(o, k, r) {
        nx_range *rg = NULL;
        if (!json_is_string(r)) {
            nx_seterr(e, "%s: '%s' => '%s' must be a string (a version range)", file, key, k);
            return -1;
        }
        if (nx_range_parse(json_string_value(r), &rg, e) != 0) {
            nx_preferr(e, "%s: '%s' => '%s'", file, key, k);
            return -1;
        }
        nx_range_free(rg);
    }
    *out = json_incref(o);
    return 0;
}

/* 'requires': version ranges, and 'php_extensions' => a list of PHP
 * extension names (manifest.h, nx_requires_ok). */
static int take_requires(struct rel_meta *m, json_t *v, const char *file, nx_err *e)
{
    json_t *o = json_object_get(v, "requires");
    if (!o || (json_is_array(o) && json_array_size(o) == 0)) {
        m->requires = json_object();
        return 0;
    }
    if (!json_is_object(o)) {
        nx_seterr(e, "%s: 'requires' must be an array of NAME => VERSION RANGE", file);
        return -1;
    }
    json_t *ranges = json_deep_copy(o);
    json_object_del(ranges, NX_REQ_PHP_EXTENSIONS);
    json_t *wrap = json_pack("{s:o}", "requires", ranges);
    json_t *checked = NULL;
    int rc = take_ranges(wrap, "requires", &checked, 0, file, e);
    json_decref(checked);
    json_decref(wrap);
    if (rc == 0 && nx_requires_ok(file, o, e) != 0)
        rc = -1;
    if (rc == 0)
        m->requires = json_incref(o);
    return rc;
}

static int take_compat(struct rel_meta *m, json_t *v, const char *file, nx_err *e)
{
    json_t *o = json_object_get(v, "compatibility");
    if (!o || (json_is_array(o) && json_array_size(o) == 0)) {
        m->compatibility = json_object();
        return 0;
    }
    if (!json_is_object(o)) {
        nx_seterr(e, "%s: 'compatibility' must be an array (e.g. 'plugins' => [...])", file);
        return -1;
    }
    json_t *p = json_object_get(o, "plugins");
    if (p && json_is_object(p)) {
        json_t *checked = NULL;
        if (take_ranges(o, "plugins", &checked, 0, file, e) != 0)
            return -1;
        json_decref(checked);
    } else if (p && !(json_is_array(p) && json_array_size(p) == 0)) {
        nx_seterr(e, "%s: 'compatibility' => 'plugins' must be an array of SLUG => RANGE", file);
        return -1;
    }
    m->compatibility = json_deep_copy(o);
    if (p && !json_is_object(p))   /* PHP's empty [] */
        json_object_set_new(m->compatibility, "plugins", json_object());
    return 0;
}

int rel_meta_load(struct rel_meta *m, const char *component, const char *src, const char *date,
                  nx_err *e)
{
    memset(m, 0, sizeof *m);
    if (rel_component_parse(component, &m->slug, e) != 0)
        return -1;
    m->component = nx_xstrdup(component);
    char *file = rel_version_file(component, src);
    json_t *v = nx_phpver_load(file, e);
    int rc = -1;
    if (!v)
        goto out;
    if (!json_is_object(v)) {
        nx_seterr(e, "%s: does not return an array of 'key' => value", file);
        goto out;
    }
    if (take_version(m, v, file, e) != 0 || take_date(m, v, date, file, e) != 0 ||
        take_strings(m, v, file, e) != 0 ||
        take_requires(m, v, file, e) != 0 ||
        take_compat(m, v, file, e) != 0 ||
        take_ranges(v, "dependencies", &m->dependencies, 1, file, e) != 0)
        goto out;
    rc = 0;
out:
    json_decref(v);
    free(file);
    if (rc != 0)
        rel_meta_free(m);
    return rc;
}

static json_t *entry_json(const nx_entry *en)
{
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", en->mode & 0777);
    switch (en->type) {
    case NX_ENTRY_FILE:
        return json_pack("{s:s, s:s, s:I, s:s, s:s}", "path", en->path, "type", "file", "size",
                         (json_int_t)en->size, "mode", mode, "sha256", en->sha256);
    case NX_ENTRY_DIR:
        return json_pack("{s:s, s:s, s:s}", "path", en->path, "type", "dir", "mode", mode);
    case NX_ENTRY_SYMLINK:
        return json_pack("{s:s, s:s, s:s}", "path", en->path, "type", "symlink", "target",
                         en->target);
    }
    return NULL;
}

static json_t *manifest_json(const struct rel_meta *m, const struct rel_tree *t)
{
    json_t *files = json_array();
    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(files, entry_json(&t->entries[i]));
    json_t *doc = json_pack("{s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:O, s:O}", "format", 1,
                            "component", m->component, "version", m->version, "version_code",
                            (json_int_t)m->version_code, "release_date", m->release_date,
                            "branch", m->branch, "build", m->build, "requires", m->requires,
                            "compatibility", m->compatibility);
    if (m->dependencies)
        json_object_set(doc, "dependencies", m->dependencies);
    json_object_set_new(doc, "files", files);
    json_object_set_new(doc, "total_size", json_integer((json_int_t)t->total_size));
    return doc;
}

char *rel_manifest_text(const struct rel_meta *m, const struct rel_tree *t, nx_err *e)
{
    json_t *doc = manifest_json(m, t);
    char *body = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!body) {
        nx_seterr(e, "%s: cannot encode the manifest", NX_MANIFEST_NAME);
        return NULL;
    }
    char *text = nx_xasprintf("%s\n", body);
    free(body);
    if (strlen(text) > NX_MANIFEST_MAX) {
        nx_seterr(e, "%s of %s %s would be %zu bytes, over the %s nexo-update accepts: "
                  "too many files for one package", NX_MANIFEST_NAME, m->component, m->version,
                  strlen(text), NX_MANIFEST_MAX_TEXT);
        free(text);
        return NULL;
    }
    nx_manifest *mf = nx_manifest_parse(text, strlen(text), NX_MANIFEST_NAME, e);
    if (!mf) {
        nx_preferr(e, "the manifest made for %s %s is not valid", m->component, m->version);
        free(text);
        return NULL;
    }
    nx_manifest_free(mf);
    return text;
}
