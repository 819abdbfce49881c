/* Steps inserted into a running update: a plugin package's own upgrade
 * steps (docs/plugin-authors.md). See nx_run_insert_steps in engine.h.
 *
 * The fragment comes from the verified, extracted package: the host only
 * takes it when the verify step has published the manifest and the
 * extract step the staging folder, and `base` lies inside that folder.
 * Modules and "./" files are copied into WORK/inserted/<instance>/ so that
 * they stay where the journal says while the package's tree is swapped
 * into the site (and recover finds them after a crash). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "engine.h"
#include "offer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_DEPTH 16

/* ---- copying ----------------------------------------------------------- */

static int copy_file(const char *src, const char *dst, mode_t mode, nx_err *e)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) {
        nx_seterr(e, "%s: %s", src, strerror(errno));
        return -1;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        nx_seterr(e, "%s: %s", dst, strerror(errno));
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                nx_seterr(e, "%s: %s", dst, strerror(errno));
                rc = -1;
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    if (n < 0 && !rc) {
        nx_seterr(e, "%s: %s", src, strerror(errno));
        rc = -1;
    }
    /* never group/world-writable: the loader refuses such modules */
    if (!rc && (fchmod(out, mode & 0755) != 0 || fsync(out) != 0)) {
        nx_seterr(e, "%s: %s", dst, strerror(errno));
        rc = -1;
    }
    close(in);
    close(out);
    return rc;
}

/* A file or a folder tree (regular files and folders only). */
static int copy_tree(const char *src, const char *dst, int depth, nx_err *e)
{
    struct stat st;
    if (lstat(src, &st) != 0) {
        nx_seterr(e, "%s: %s", src, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode))
        return copy_file(src, dst, st.st_mode, e);
    if (!S_ISDIR(st.st_mode)) {
        nx_seterr(e, "%s: not a file or a folder (symlinks and devices are not copied)", src);
        return -1;
    }
    if (depth > COPY_DEPTH) {
        nx_seterr(e, "%s: folders nested too deep", src);
        return -1;
    }
    if (mkdir(dst, 0700) != 0) {
        nx_seterr(e, "%s: %s", dst, strerror(errno));
        return -1;
    }
    DIR *d = opendir(src);
    if (!d) {
        nx_seterr(e, "%s: %s", src, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *s = nx_path_join(src, de->d_name);
        char *t = nx_path_join(dst, de->d_name);
        rc = copy_tree(s, t, depth + 1, e);
        free(s);
        free(t);
    }
    closedir(d);
    if (!rc && chmod(dst, st.st_mode & 0755) != 0) {
        nx_seterr(e, "%s: %s", dst, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* ---- resolving a fragment ------------------------------------------------ */

/* "./x/y" or "x/y.so" below base: a plain relative path, no "..". */
static char *inside(const char *base, const char *rel, nx_err *e)
{
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    if (!*rel || rel[0] == '/') {
        nx_seterr(e, "'%s': not a path inside the package", rel);
        return NULL;
    }
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if ((n == 2 && p[0] == '.' && p[1] == '.') || (n == 1 && p[0] == '.')) {
            nx_seterr(e, "'%s': '.' and '..' are not allowed in a package path", rel);
            return NULL;
        }
        p += n;
        while (*p == '/')
            p++;
    }
    return nx_path_join(base, rel);
}

static ssize_t index_of(const nx_pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (strcmp(p->steps[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Take the placement key out of a step's settings: its position in the
 * running pipeline (the index the step will have). */
static int placement(const nx_run *r, size_t caller, nx_step_inst *s, const char *file,
                     size_t *pos, nx_err *e)
{
    char *target = NULL;
    int after = 0, line = s->line, rc = 0;
    for (size_t k = 0; k < s->nsettings;) {
        const char *key = s->settings[k].key;
        if (strcmp(key, "after") != 0 && strcmp(key, "before") != 0) {
            k++;
            continue;
        }
        if (target) {
            nx_seterr(e, "%s:%d: step [%s]: give one of after = and before =", file,
                      s->settings[k].line, s->name);
            rc = -1;
        }
        if (!target) {
            after = strcmp(key, "after") == 0;
            line = s->settings[k].line;
            target = s->settings[k].value;
        } else {
            free(s->settings[k].value);
        }
        free(s->settings[k].key);
        memmove(&s->settings[k], &s->settings[k + 1],
                (s->nsettings - k - 1) * sizeof *s->settings);
        s->nsettings--;
    }
    if (!rc && !target) {
        nx_seterr(e, "%s:%d: step [%s]: say where it goes: after = STEP or before = STEP",
                  file, s->line, s->name);
        rc = -1;
    }
    ssize_t t = rc ? -1 : index_of(r->pl, target);
    if (!rc && t < 0) {
        nx_seterr(e, "%s:%d: step [%s]: %s = %s: the pipeline '%s' has no such step", file,
                  line, s->name, after ? "after" : "before", target, r->pl->name);
        rc = -1;
    }
    size_t p = rc ? 0 : (size_t)t + (after ? 1 : 0);
    if (!rc && p <= caller) {
        nx_seterr(e, "%s:%d: step [%s]: %s = %s: that point has passed (steps can only be "
                  "inserted after [%s])", file, line, s->name, after ? "after" : "before",
                  target, r->pl->steps[caller].name);
        rc = -1;
    }
    *pos = p;
    free(target);
    return rc;
}

/* Is word one of the words of list (separated by blanks or commas)? */
static int listed(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, " \t,");
        size_t k = strcspn(p, " \t,");
        if (k == n && strncmp(p, word, n) == 0)
            return 1;
        p += k;
    }
    return 0;
}

/* Code the package itself ships that would run with the updater's
 * privileges (contracts §9): a step module of its own (a path, not an
 * installed module's name), loaded in-process, or executables of its own
 * ("./" settings) handed to the installed hooks step, which runs them as
 * the updater. For a plugin, allowed only when the admin names that plugin
 * in [plugins] native_steps; checked before anything is copied or loaded.
 * (Core and custom pipelines are not plugins: their packages are the
 * site's own release.) */
static int native_allowed(const nx_run *r, const nx_step_inst *s, const char *file,
                          nx_err *e)
{
    const char *comp = json_string_value(json_object_get(r->info, "component"));
    if (!comp || strncmp(comp, "plugin:", 7) != 0)
        return 0;
    const char *slug = comp + 7;
    const char *hook_files = NULL;
    int line = s->module_line;
    if (strcmp(s->module, "hooks") == 0) {
        for (size_t k = 0; k < s->nsettings && !hook_files; k++) {
            if (strncmp(s->settings[k].value, "./", 2) == 0) {
                hook_files = s->settings[k].value;
                line = s->settings[k].line;
            }
        }
    }
    int own_module = s->module[0] != '/' && strchr(s->module, '/') != NULL;
    if ((!own_module && !hook_files) ||
        listed(nx_config_get(r->cfg, "plugins", "native_steps"), slug))
        return 0;
    char *what = own_module
                     ? nx_xasprintf("the native step module %s", s->module)
                     : nx_xasprintf("executables %s for the installed hooks step, which would "
                                    "run them with the updater's privileges", hook_files);
    nx_seterr(e, "plugin %s ships %s (step [%s], %s:%d); refused: add %s to [plugins] "
                 "native_steps in %s to allow it", slug, what, s->name, file, line, slug,
              nx_config_file(r->cfg));
    free(what);
    return -1;
}

/* Modules named by a path inside the package are copied into dir; plain
 * names are installed modules; absolute paths are refused (a package
 * names no file of the host). "./" settings are copied too. */
static int localize(const nx_run *r, nx_step_inst *s, const char *file, const char *base,
                    const char *dir, nx_err *e)
{
    nx_err e2;
    if (nx_mkdirs(dir, 0700, &e2) != 0) {
        nx_seterr(e, "%s", e2.msg);
        return -1;
    }
    if (s->module[0] == '/') {
        nx_seterr(e, "%s:%d: step [%s]: module = %s: a package may name its own modules "
                  "(a path inside it) or installed ones (a name), not a file of the host",
                  file, s->module_line, s->name, s->module);
        return -1;
    }
    if (strchr(s->module, '/')) {
        char *src = inside(base, s->module, e);
        if (!src) {
            nx_preferr(e, "%s:%d: step [%s]: module", file, s->module_line, s->name);
            return -1;
        }
        const char *bn = nx_basename(src);
        char *dst = nx_path_join(dir, bn);
        int rc = copy_file(src, dst, 0644, e);
        free(src);
        if (rc) {
            free(dst);
            nx_preferr(e, "%s:%d: step [%s]", file, s->module_line, s->name);
            return -1;
        }
        free(s->module_path);
        s->module_path = dst;
    } else {
        s->module_path = nx_module_resolve(nx_config_get(r->cfg, "paths", "modules"), NX_STEP,
                                           s->module, e);
        if (!s->module_path) {
            nx_preferr(e, "%s:%d: step [%s]", file, s->module_line, s->name);
            return -1;
        }
    }
    for (size_t k = 0; k < s->nsettings; k++) {
        char *v = s->settings[k].value;
        if (strncmp(v, "./", 2) != 0)
            continue;
        char *src = inside(base, v, e);
        if (!src) {
            nx_preferr(e, "%s:%d: step [%s]: %s", file, s->settings[k].line, s->name,
                       s->settings[k].key);
            return -1;
        }
        char *name = nx_xasprintf("%s.%s", s->settings[k].key, nx_basename(src));
        char *dst = nx_path_join(dir, name);
        free(name);
        int rc = copy_tree(src, dst, 0, e);
        free(src);
        if (rc) {
            free(dst);
            nx_preferr(e, "%s:%d: step [%s]: %s", file, s->settings[k].line, s->name,
                       s->settings[k].key);
            return -1;
        }
        free(s->settings[k].value);
        s->settings[k].value = dst;
    }
    return 0;
}

/* ---- splicing ------------------------------------------------------------ */

/* Move the loaded step `s` (taken over) into the running pipeline at pos. */
static void splice_one(nx_run *r, size_t pos, nx_step_inst *s)
{
    nx_pipeline *p = r->pl;
    size_t n = p->nsteps;
    p->steps = nx_xrealloc(p->steps, (n + 1) * sizeof *p->steps);
    memmove(&p->steps[pos + 1], &p->steps[pos], (n - pos) * sizeof *p->steps);
    p->steps[pos] = *s;
    memset(s, 0, sizeof *s);
    /* the steps from pos on have not started: their contexts are blank */
    memmove(&r->ctx[pos + 1], &r->ctx[pos], (n - pos) * sizeof *r->ctx);
    memmove(&r->st[pos + 1], &r->st[pos], (n - pos) * sizeof *r->st);
    memset(&r->ctx[pos], 0, sizeof *r->ctx);
    memset(&r->st[pos], 0, sizeof *r->st);
    for (size_t i = pos; i <= n; i++) {
        r->ctx[i].run = r;
        r->ctx[i].idx = i;
        if (!r->ctx[i].phase)
            r->ctx[i].phase = "none";
    }
    json_array_insert_new(r->states, pos, json_object());
    p->nsteps = n + 1;
    r->inserted++;
}

/* Splice every step of `frag` at its position (positions[] in fragment
 * order, each relative to the pipeline before any of them went in). */
static void splice_all(nx_run *r, nx_pipeline *frag, const size_t *pos)
{
    /* later positions first keeps the earlier ones valid; steps sharing a
     * position keep their fragment order */
    size_t n = frag->nsteps;
    for (size_t done = 0; done < n; done++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (!frag->steps[i].name)
                continue;
            if (best == n || pos[i] > pos[best] || (pos[i] == pos[best] && i > best))
                best = i;
        }
        splice_one(r, pos[best], &frag->steps[best]);
    }
}

static int names_free(const nx_run *r, const nx_pipeline *frag, const char *file, nx_err *e)
{
    for (size_t i = 0; i < frag->nsteps; i++) {
        if (index_of(r->pl, frag->steps[i].name) >= 0) {
            nx_seterr(e, "%s:%d: step [%s]: the pipeline '%s' has a step of that name already",
                      file, frag->steps[i].line, frag->steps[i].name, r->pl->name);
            return -1;
        }
    }
    if (r->inserted + frag->nsteps > NX_INSERT_MAX) {
        nx_seterr(e, "%s: %zu steps: at most %d steps can be inserted into one update", file,
                  frag->nsteps, NX_INSERT_MAX);
        return -1;
    }
    return 0;
}

static int validate_new(nx_run *r, nx_pipeline *frag, nx_err *e)
{
    /* a scratch run over the fragment alone: its steps' validate with the
     * update's facts */
    nx_run v;
    nx_run_init(&v, r->out, r->cfg, frag, NULL, r->info);
    json_object_update(v.shared, r->shared);
    int rc = nx_engine_validate(&v, e);
    /* the scratch run must not call cleanup on modules it does not own */
    v.pl = &(nx_pipeline){ 0 };
    nx_run_free(&v);
    return rc;
}

/* A package path must lie inside the staging folder extract published,
 * after verify checked the package. */
static int trusted_base(const nx_run *r, const char *base, nx_err *e)
{
    const char *staging = json_string_value(json_object_get(r->shared, NX_SHARED_STAGING));
    const char *manifest = json_string_value(json_object_get(r->shared, NX_SHARED_MANIFEST));
    if (!staging || !manifest) {
        nx_seterr(e, "steps are inserted only from a verified, extracted package (no %s%s%s "
                  "published by the verify and extract steps before this one)",
                  manifest ? "" : NX_SHARED_MANIFEST, !manifest && !staging ? ", " : "",
                  staging ? "" : NX_SHARED_STAGING);
        return -1;
    }
    char rs[PATH_MAX], rb[PATH_MAX];
    if (!realpath(staging, rs) || !realpath(base, rb)) {
        nx_seterr(e, "%s: %s", realpath(staging, rs) ? base : staging, strerror(errno));
        return -1;
    }
    size_t n = strlen(rs);
    if (strncmp(rb, rs, n) != 0 || (rb[n] != '\0' && rb[n] != '/')) {
        nx_seterr(e, "%s is not inside the verified package's staging folder %s", base,
                  staging);
        return -1;
    }
    return 0;
}

int nx_run_insert_steps(nx_run *r, size_t caller, const char *fragment, const char *base,
                        nx_err *e)
{
    const char *work = json_string_value(json_object_get(r->info, "work_dir"));
    if (!r->j || !work) {
        nx_seterr(e, "steps can be inserted only into a running update");
        return -1;
    }
    if (trusted_base(r, base, e) != 0 || trusted_base(r, fragment, e) != 0)
        return -1;
    nx_pipeline *frag = nx_pipeline_parse_verified(fragment, e);
    if (!frag)
        return -1;
    size_t *pos = nx_xcalloc(frag->nsteps, sizeof *pos);
    int rc = names_free(r, frag, fragment, e);
    /* code of the package's own: allowed or not, before anything is
     * copied or loaded */
    for (size_t i = 0; !rc && i < frag->nsteps; i++)
        rc = native_allowed(r, &frag->steps[i], fragment, e);
    for (size_t i = 0; !rc && i < frag->nsteps; i++) {
        nx_step_inst *s = &frag->steps[i];
        char *dir = nx_xasprintf("%s/inserted/%s", work, s->name);
        rc = placement(r, caller, s, fragment, &pos[i], e);
        if (!rc)
            rc = localize(r, s, fragment, base, dir, e);
        free(dir);
    }
    if (!rc)
        rc = nx_pipeline_load_modules(frag, "/", e);
    if (!rc)
        rc = validate_new(r, frag, e);
    json_t *rec = NULL;
    if (!rc) {
        json_t *at = json_array();
        for (size_t i = 0; i < frag->nsteps; i++)
            json_array_append_new(at, json_integer((json_int_t)pos[i]));
        rec = json_pack("{s:I, s:o, s:o}", "by", (json_int_t)caller, "at", at, "pipeline",
                        nx_pipeline_to_json(frag));
        if (nx_journal_append(r->j, "insert", rec, e) != 0)
            rc = -1;
    }
    if (!rc) {
        for (size_t i = 0; i < frag->nsteps; i++)
            nx_log(r->out, NEXO_LOG_INFO, r->pl->steps[caller].name,
                   "inserted [%s] (%s %s, %s) before step %zu", frag->steps[i].name,
                   frag->steps[i].mod->step->name, frag->steps[i].mod->step->version,
                   frag->steps[i].module_path, pos[i] + 1);
        splice_all(r, frag, pos);
    }
    free(pos);
    nx_pipeline_free(frag);
    return rc;
}

int nx_run_replay_insert(nx_run *r, const json_t *rec, nx_err *e)
{
    json_t *at = json_object_get(rec, "at");
    nx_pipeline *frag = nx_pipeline_from_json(json_object_get(rec, "pipeline"), e);
    if (!frag)
        return -1;
    int rc = 0;
    size_t *pos = nx_xcalloc(frag->nsteps ? frag->nsteps : 1, sizeof *pos);
    if (!json_is_array(at) || json_array_size(at) != frag->nsteps ||
        r->inserted + frag->nsteps > NX_INSERT_MAX) {
        nx_seterr(e, "journal: an insert record is malformed");
        rc = -1;
    }
    for (size_t i = 0; !rc && i < frag->nsteps; i++) {
        json_int_t p = json_integer_value(json_array_get(at, i));
        if (p <= 0 || (size_t)p > r->pl->nsteps) {
            nx_seterr(e, "journal: an insert record names position %lld", (long long)p);
            rc = -1;
        }
        pos[i] = (size_t)p;
    }
    if (!rc)
        rc = nx_pipeline_load_modules(frag, "/", e);
    if (!rc)
        splice_all(r, frag, pos);
    free(pos);
    nx_pipeline_free(frag);
    return rc;
}
