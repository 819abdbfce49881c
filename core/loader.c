#include "loader.h"
#include "semver.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_dir(enum nx_kind k)
{
    return k == NX_STEP ? "steps" : "drivers";
}

static const char *kind_name(enum nx_kind k)
{
    return k == NX_STEP ? "step" : "driver";
}

static int valid_module_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

char *nx_module_resolve(const char *modules_dir, enum nx_kind kind, const char *name,
                        nx_err *e)
{
    if (name[0] == '/')
        return nx_xstrdup(name);
    if (!valid_module_name(name)) {
        nx_seterr(e, "invalid %s module name '%s' (expected lower-case letters, digits, "
                     "'_', or an absolute path to a .so file)", kind_name(kind), name);
        return NULL;
    }
    return nx_xasprintf("%s/%s/%s.so", modules_dir, kind_dir(kind), name);
}

/* The file name without folder and ".so". */
static char *stem(const char *path)
{
    const char *b = nx_basename(path);
    size_t n = strlen(b);
    if (n > 3 && strcmp(b + n - 3, ".so") == 0)
        n -= 3;
    return nx_xstrndup(b, n);
}

static int check_abi(const char *path, const char *what, uint32_t abi, uint32_t size,
                     size_t min, size_t max, nx_err *e)
{
    if (abi != NEXO_ABI_VERSION) {
        nx_seterr(e, "%s: is not binary compatible: %s ABI %u, this nexo-update has ABI %u",
                  path, what, (unsigned)abi, (unsigned)NEXO_ABI_VERSION);
        return -1;
    }
    if (size < min) {
        nx_seterr(e, "%s: is not binary compatible: %s descriptor of %u bytes, ABI %u "
                     "needs at least %zu", path, what, (unsigned)size,
                  (unsigned)NEXO_ABI_VERSION, min);
        return -1;
    }
    if (size > max) {
        nx_seterr(e, "%s: is not binary compatible: %s descriptor of %u bytes is newer than "
                     "this nexo-update knows (%zu bytes); upgrade nexo-update",
                  path, what, (unsigned)size, max);
        return -1;
    }
    return 0;
}

static int check_name(const char *path, const char *what, const char *name, nx_err *e)
{
    if (!name) {
        nx_seterr(e, "%s: %s descriptor has no name", path, what);
        return -1;
    }
    char *st = stem(path);
    int same = strcmp(st, name) == 0;
    if (!same)
        nx_seterr(e, "%s: %s calls itself '%s' but the file is named '%s.so'", path, what,
                  name, st);
    free(st);
    return same ? 0 : -1;
}

static int check_version(const char *path, const char *v, nx_err *e)
{
    nx_semver sv;
    nx_err sub;
    if (!v || nx_semver_parse(v, &sv, &sub) != 0) {
        nx_seterr(e, "%s: module version is not SemVer: %s", path, v ? sub.msg : "missing");
        return -1;
    }
    nx_semver_free(&sv);
    return 0;
}

static int check_step(const char *path, const struct nexo_step_module *d, nx_err *e)
{
    if (check_abi(path, "step", d->abi, d->size, NEXO_STEP_MIN_SIZE, sizeof *d, e) != 0 ||
        check_name(path, "step", d->name, e) != 0)
        return -1;
    if (check_version(path, d->version, e) != 0)
        return -1;
    if (!d->run || !d->undo) {
        nx_seterr(e, "%s: step '%s' lacks %s (every step has run and undo)", path, d->name,
                  d->run ? "undo" : "run");
        return -1;
    }
    for (const struct nexo_setting *s = d->settings; s && s->name; s++) {
        if (strcmp(s->name, "module") == 0) {
            nx_seterr(e, "%s: step '%s' declares the reserved setting 'module'", path,
                      d->name);
            return -1;
        }
    }
    return 0;
}

static int check_driver(const char *path, const struct nexo_driver_module *d, nx_err *e)
{
    if (check_abi(path, "driver", d->abi, d->size, NEXO_DRIVER_MIN_SIZE, sizeof *d, e) != 0 ||
        check_name(path, "driver", d->name, e) != 0)
        return -1;
    if (check_version(path, d->version, e) != 0)
        return -1;
    if (!d->connect || !d->disconnect || !d->server_version || !d->exec || !d->query ||
        !d->begin || !d->commit || !d->rollback || !d->quote_ident || !d->exists || !d->lock ||
        !d->unlock || !d->backup || !d->restore || !d->render || !d->free_stmts ||
        !d->dialect) {
        nx_seterr(e, "%s: driver '%s' lacks a required function", path, d->name);
        return -1;
    }
    return 0;
}

/* glibc's dlvsym() also accepts a symbol from an object without any
 * symbol versioning, so the version node is checked in the file itself:
 * `sym` must be defined with the version `ver` (from .gnu.version_d). */
struct elfview {
    const unsigned char *p;
    size_t n;
};

static const void *at(const struct elfview *v, size_t off, size_t len)
{
    if (off > v->n || len > v->n - off)
        return NULL;
    return v->p + off;
}

static const ElfW(Shdr) *section(const struct elfview *v, const ElfW(Ehdr) *eh, size_t i)
{
    if (i >= eh->e_shnum || eh->e_shentsize != sizeof(ElfW(Shdr)))
        return NULL;
    return at(v, eh->e_shoff + i * sizeof(ElfW(Shdr)), sizeof(ElfW(Shdr)));
}

static const char *str_at(const struct elfview *v, const ElfW(Shdr) *strtab, size_t off)
{
    if (!strtab || off >= strtab->sh_size)
        return NULL;
    const char *s = at(v, strtab->sh_offset + off, 1);
    if (!s || !memchr(s, '\0', strtab->sh_size - off))
        return NULL;
    return s;
}

/* The index the version `ver` has in the object's verdef table; 0 if none. */
static unsigned verdef_index(const struct elfview *v, const ElfW(Ehdr) *eh,
                             const ElfW(Shdr) *vd, const char *ver)
{
    const ElfW(Shdr) *strtab = section(v, eh, vd->sh_link);
    size_t off = vd->sh_offset;
    for (unsigned i = 0; i < vd->sh_info && i < 1000; i++) {
        const ElfW(Verdef) *d = at(v, off, sizeof *d);
        if (!d)
            return 0;
        const ElfW(Verdaux) *aux = at(v, off + d->vd_aux, sizeof *aux);
        const char *name = aux ? str_at(v, strtab, aux->vda_name) : NULL;
        if (name && strcmp(name, ver) == 0 && !(d->vd_flags & VER_FLG_BASE))
            return d->vd_ndx;
        if (!d->vd_next)
            return 0;
        off += d->vd_next;
    }
    return 0;
}

static int symbol_has_version(const char *path, const char *sym, const char *ver, nx_err *e)
{
    char *buf;
    size_t len;
    if (nx_read_file(path, &buf, &len, 256u << 20, e) != 0)
        return -1;
    struct elfview v = { (const unsigned char *)buf, len };
    const ElfW(Ehdr) *eh = at(&v, 0, sizeof *eh);
    const ElfW(Shdr) *dynsym = NULL, *versym = NULL, *verdef = NULL;
    int found = 0;
    if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        goto out;
    for (size_t i = 0; i < eh->e_shnum; i++) {
        const ElfW(Shdr) *sh = section(&v, eh, i);
        if (!sh)
            goto out;
        if (sh->sh_type == SHT_DYNSYM)
            dynsym = sh;
        else if (sh->sh_type == SHT_GNU_versym)
            versym = sh;
        else if (sh->sh_type == SHT_GNU_verdef)
            verdef = sh;
    }
    if (!dynsym || !versym || !verdef)
        goto out;
    unsigned want = verdef_index(&v, eh, verdef, ver);
    const ElfW(Shdr) *strtab = section(&v, eh, dynsym->sh_link);
    size_t nsym = dynsym->sh_size / sizeof(ElfW(Sym));
    for (size_t i = 0; want && i < nsym; i++) {
        const ElfW(Sym) *s = at(&v, dynsym->sh_offset + i * sizeof *s, sizeof *s);
        const ElfW(Half) *vs = at(&v, versym->sh_offset + i * sizeof *vs, sizeof *vs);
        const char *name = s ? str_at(&v, strtab, s->st_name) : NULL;
        if (!vs || !name || s->st_shndx == SHN_UNDEF || strcmp(name, sym) != 0)
            continue;
        found = (*vs & 0x7fff) == want;
        break;
    }
out:
    free(buf);
    return found;
}

nx_module *nx_module_load(const char *path, enum nx_kind kind, nx_err *e)
{
    const char *sym = kind == NX_STEP ? NEXO_STEP_SYMBOL : NEXO_DRIVER_SYMBOL;
    if (path[0] != '/') {
        nx_seterr(e, "%s: module path must be absolute", path);
        return NULL;
    }
    if (access(path, F_OK) != 0) {
        nx_seterr(e, "%s: %s module not found", path, kind_name(kind));
        return NULL;
    }
    if (nx_check_secure_path(path, e) != 0)
        return NULL;
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *de = dlerror();
        nx_seterr(e, "%s: cannot load: %s", path, de ? de : "unknown error");
        return NULL;
    }
    void *d = dlvsym(h, sym, "NEXO_1");
    if (d && symbol_has_version(path, sym, "NEXO_1", e) != 1)
        d = NULL;
    if (!d) {
        if (dlsym(h, sym))
            nx_seterr(e, "%s: is not binary compatible: exports %s without the version "
                         "node NEXO_1 (link with the nexo-%s.map version script)",
                      path, sym, kind_name(kind));
        else
            nx_seterr(e, "%s: does not export %s: not a nexo-update %s module", path, sym,
                      kind_name(kind));
        dlclose(h);
        return NULL;
    }
    int rc = kind == NX_STEP ? check_step(path, d, e) : check_driver(path, d, e);
    if (rc != 0) {
        dlclose(h);
        return NULL;
    }
    nx_module *m = nx_xcalloc(1, sizeof *m);
    m->path = nx_xstrdup(path);
    m->kind = kind;
    m->handle = h;
    if (kind == NX_STEP)
        m->step = d;
    else
        m->driver = d;
    return m;
}

void nx_module_unload(nx_module *m)
{
    if (!m)
        return;
    /* Under the sanitizers keep modules mapped so that reports can name
     * their code; otherwise close. */
#if !defined(__SANITIZE_ADDRESS__)
    if (m->handle)
        dlclose(m->handle);
#endif
    free(m->path);
    free(m);
}
