/*
 * flock(2) for C guests of portalocker for WASI, over `portalocker:filelock`.
 *
 * wasi-libc declares `flock` in <sys/file.h> but does not define it (nothing
 * links), and its descriptors are small integers private to wasi-libc (and,
 * in a p1 module, to the component adapter), not `wasi:filesystem` handles.
 * Linking this file in defines `flock`: it takes the lock through the path
 * layer (`path-lock.file-lock`) on the path the descriptor was opened with,
 * so the lock is a real host lock (`flock(2)` on a file the host opened),
 * excluding other guests, other hosts and native processes, and theirs
 * exclude it.
 *
 * Build: compile this file with the `wit-bindgen c` bindings of a world that
 * imports `portalocker:filelock/imports` and `wasi:filesystem/preopens` (the
 * header is "command.h", the bindings of `portalocker:filelock/command`,
 * unless -DPORTALOCKER_FLOCK_BINDINGS='"other.h"' names another), and link
 * with
 *
 *     -Wl,--wrap=open -Wl,--wrap=__wasilibc_open_nomode -Wl,--wrap=close
 *
 * so that every `open`, `openat(AT_FDCWD, ...)`, `creat` and `fopen`
 * records the descriptor's path, and every `close` (`fclose` too) releases
 * its lock. This is the *path route*, as `portalocker-wasi-fcntl` takes for
 * Python; what follows from it, beside `flock(2)`:
 *
 * - Each locked descriptor holds a lock of its own on a separate open file
 *   of the same path: two descriptors of one file conflict, as two `open`s
 *   do with `flock(2)`.
 * - Before locking, the path is checked to still name the descriptor's file
 *   (its `wasi:filesystem` metadata hash against `fstat`'s `st_ino`); a file
 *   renamed or replaced since it was opened cannot be locked through the old
 *   descriptor (`ENOLCK`), nor can a descriptor opened relative to another
 *   directory descriptor (`openat` with a real `dirfd`), or by a function
 *   that does not go through `open` (`ENOLCK`).
 * - Closing the descriptor (`close`, `fclose`) releases its lock.
 * - A blocking `flock` waits in the host (cancellable only with the guest).
 *
 * Errors set `errno` as `flock(2)` would: `EWOULDBLOCK` for a lock held
 * elsewhere with `LOCK_NB`, `EBADF` for a descriptor that is not open,
 * `EINVAL` for a bad operation or a file that cannot be locked, `ENOENT` when
 * the file is gone, `EPERM` when the host's policy refuses, `ENOLCK` for a
 * descriptor this file cannot lock and the host's limits, `EIO` otherwise.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PORTALOCKER_FLOCK_BINDINGS
#define PORTALOCKER_FLOCK_BINDINGS "command.h"
#endif
#include PORTALOCKER_FLOCK_BINDINGS

typedef portalocker_filelock_types_lock_error_t lock_error_t;
typedef portalocker_filelock_types_lock_mode_t lock_mode_t;
typedef portalocker_filelock_path_lock_own_file_lock_t own_file_lock_t;
typedef wasi_filesystem_types_borrow_descriptor_t borrow_descriptor_t;

/* wasi-libc's own functions, reached through the linker's --wrap. */
int __real_open(const char *path, int oflag, ...);
int __real___wasilibc_open_nomode(const char *path, int oflag);
int __real_close(int fd);

/* What this file knows of one descriptor opened by path. */
struct record {
    char *path;      /* absolute, normalized */
    ino_t ino;       /* the file it was opened on */
    bool locked;     /* `lock` is held in `mode` */
    bool has_lock;   /* `lock` exists (held or released after a failed conversion) */
    own_file_lock_t lock;
    lock_mode_t mode;
};

/* The records, indexed by descriptor. */
static struct record **records;
static size_t records_len;

static struct record *find(int fd) {
    return fd >= 0 && (size_t)fd < records_len ? records[fd] : NULL;
}

/* Releases and frees the lock of `record`, if any. */
static void drop_lock(struct record *record) {
    if (!record->has_lock) {
        return;
    }
    lock_error_t error;
    /* Releasing a lock the host gave up already is no error worth reporting. */
    portalocker_filelock_path_lock_method_file_lock_release(
        portalocker_filelock_path_lock_borrow_file_lock(record->lock), &error);
    portalocker_filelock_path_lock_file_lock_drop_own(record->lock);
    record->has_lock = false;
    record->locked = false;
}

/* Forgets `fd`, releasing its lock. */
static void forget(int fd) {
    struct record *record = find(fd);
    if (record == NULL) {
        return;
    }
    records[fd] = NULL;
    drop_lock(record);
    free(record->path);
    free(record);
}

/* `path` made absolute (against the working directory) and normalized
 * (no `.`, `..` or repeated `/`); NULL when that fails. */
static char *absolute(const char *path) {
    char cwd[PATH_MAX];
    size_t cwd_len = 0;
    if (path[0] != '/') {
        if (getcwd(cwd, sizeof cwd) == NULL) {
            return NULL;
        }
        cwd_len = strlen(cwd);
    }
    size_t len = cwd_len + 1 + strlen(path) + 1;
    char *joined = malloc(len);
    char *out = malloc(len + 1);
    if (joined == NULL || out == NULL) {
        free(joined);
        free(out);
        return NULL;
    }
    if (cwd_len > 0) {
        memcpy(joined, cwd, cwd_len);
        joined[cwd_len] = '/';
        strcpy(joined + cwd_len + 1, path);
    } else {
        strcpy(joined, path);
    }
    size_t n = 0;
    for (const char *p = joined; *p != '\0';) {
        while (*p == '/') {
            p++;
        }
        const char *end = strchr(p, '/');
        size_t part = end ? (size_t)(end - p) : strlen(p);
        if (part == 0 || (part == 1 && p[0] == '.')) {
            /* nothing */
        } else if (part == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/') {
                n--;
            }
            if (n > 0) {
                n--;
            }
        } else {
            out[n++] = '/';
            memcpy(out + n, p, part);
            n += part;
        }
        p += part;
    }
    if (n == 0) {
        out[n++] = '/';
    }
    out[n] = '\0';
    free(joined);
    return out;
}

/* Remembers that `fd` was opened with `path`; a descriptor that cannot be
 * described is left out (and `flock` on it fails with ENOLCK). */
static void record(int fd, const char *path) {
    forget(fd);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        return;
    }
    if ((size_t)fd >= records_len) {
        size_t len = (size_t)fd + 16;
        struct record **grown = realloc(records, len * sizeof *grown);
        if (grown == NULL) {
            return;
        }
        memset(grown + records_len, 0, (len - records_len) * sizeof *grown);
        records = grown;
        records_len = len;
    }
    struct record *entry = calloc(1, sizeof *entry);
    char *full = absolute(path);
    if (entry == NULL || full == NULL) {
        free(entry);
        free(full);
        return;
    }
    entry->path = full;
    entry->ino = st.st_ino;
    records[fd] = entry;
}

int __wrap_open(const char *path, int oflag, ...) {
    mode_t mode = 0;
    if (oflag & O_CREAT) {
        va_list args;
        va_start(args, oflag);
        mode = va_arg(args, mode_t);
        va_end(args);
    }
    int fd = __real_open(path, oflag, mode);
    if (fd >= 0) {
        int saved = errno;
        record(fd, path);
        errno = saved;
    }
    return fd;
}

int __wrap___wasilibc_open_nomode(const char *path, int oflag) {
    int fd = __real___wasilibc_open_nomode(path, oflag);
    if (fd >= 0) {
        int saved = errno;
        record(fd, path);
        errno = saved;
    }
    return fd;
}

int __wrap_close(int fd) {
    forget(fd);
    return __real_close(fd);
}

/* A preopened directory and its guest path. */
struct preopen {
    wasi_filesystem_types_own_descriptor_t dir;
    char *name; /* absolute, normalized */
};

static struct preopen *preopens;
static size_t preopens_len;
static bool preopens_loaded;

/* The preopens, asked for once and kept for the program's life. */
static void load_preopens(void) {
    if (preopens_loaded) {
        return;
    }
    preopens_loaded = true;
    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_t list;
    wasi_filesystem_preopens_get_directories(&list);
    preopens = calloc(list.len ? list.len : 1, sizeof *preopens);
    for (size_t i = 0; i < list.len; i++) {
        char name[PATH_MAX + 2] = "/";
        size_t len = list.ptr[i].f1.len < PATH_MAX ? list.ptr[i].f1.len : PATH_MAX;
        memcpy(name + 1, list.ptr[i].f1.ptr, len);
        name[len + 1] = '\0';
        char *full = preopens ? absolute(name) : NULL;
        if (full == NULL) {
            wasi_filesystem_types_descriptor_drop_own(list.ptr[i].f0);
            continue;
        }
        preopens[preopens_len++] = (struct preopen){list.ptr[i].f0, full};
    }
    /* Frees the names, not the descriptors (kept above or dropped). */
    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_free(&list);
}

/* The preopen holding the absolute `path` (the longest name that is a
 * prefix of it at a component boundary, as wasi-libc resolves paths), and
 * in `relative` the rest of the path; NULL when there is none. */
static struct preopen *resolve(const char *path, const char **relative) {
    load_preopens();
    struct preopen *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < preopens_len; i++) {
        const char *name = preopens[i].name;
        size_t len = strcmp(name, "/") == 0 ? 0 : strlen(name);
        if (strncmp(path, name, len) == 0 && (path[len] == '/' || path[len] == '\0') &&
            (best == NULL || len > best_len)) {
            best = &preopens[i];
            best_len = len;
        }
    }
    if (best != NULL) {
        const char *rest = path + best_len;
        while (*rest == '/') {
            rest++;
        }
        *relative = *rest ? rest : ".";
    }
    return best;
}

/* The errno flock(2) gives for a WIT `lock-error`. */
static int lock_errno(const lock_error_t *error) {
    switch (error->tag) {
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_ALREADY_LOCKED:
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_TIMED_OUT: return EWOULDBLOCK;
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_NOT_FOUND: return ENOENT;
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_DENIED:
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_NOT_PERMITTED: return EPERM;
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_NOT_LOCKABLE:
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_INVALID_OPTIONS: return EINVAL;
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_BAD_DESCRIPTOR: return EBADF;
    case PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_IO: return EIO;
    default: return ENOLCK; /* bad-path, not-held, already-exists, limit-reached */
    }
}

/* Whether the open file `lock` holds is the file `ino` names. */
static bool same_file(own_file_lock_t lock, ino_t ino) {
    wasi_filesystem_types_own_descriptor_t file;
    lock_error_t error;
    if (!portalocker_filelock_path_lock_method_file_lock_file(
            portalocker_filelock_path_lock_borrow_file_lock(lock), &file, &error)) {
        return false;
    }
    wasi_filesystem_types_metadata_hash_value_t hash;
    wasi_filesystem_types_error_code_t code;
    bool same = wasi_filesystem_types_method_descriptor_metadata_hash(
                    wasi_filesystem_types_borrow_descriptor(file), &hash, &code) &&
                hash.lower == (uint64_t)ino;
    wasi_filesystem_types_descriptor_drop_own(file);
    return same;
}

/* Takes (or converts) the lock of the descriptor `record` describes. */
static int lock(struct record *record, lock_mode_t mode, bool wait) {
    uint64_t zero = 0;
    lock_error_t error;
    if (record->has_lock) {
        if (record->locked && record->mode == mode) {
            return 0;
        }
        /* A conversion, not atomic (as flock(2)): a failed one leaves no lock. */
        if (!portalocker_filelock_path_lock_method_file_lock_lock(
                portalocker_filelock_path_lock_borrow_file_lock(record->lock), mode,
                wait ? NULL : &zero, &error)) {
            record->locked = false;
            errno = lock_errno(&error);
            return -1;
        }
        record->locked = true;
        record->mode = mode;
        return 0;
    }
    const char *relative;
    struct preopen *preopen = resolve(record->path, &relative);
    if (preopen == NULL) {
        errno = ENOLCK;
        return -1;
    }
    portalocker_filelock_path_lock_lock_options_t options = {
        .mode = mode,
        .timeout = {.is_some = !wait, .val = 0},
        .create = false,
        .write = false,
        .truncate = false,
        .append = false,
    };
    command_string_t path = {(uint8_t *)relative, strlen(relative)};
    own_file_lock_t held;
    if (!portalocker_filelock_path_lock_static_file_lock_acquire(
            wasi_filesystem_types_borrow_descriptor(preopen->dir), &path, &options, &held,
            &error)) {
        errno = lock_errno(&error);
        return -1;
    }
    if (!same_file(held, record->ino)) {
        portalocker_filelock_path_lock_method_file_lock_release(
            portalocker_filelock_path_lock_borrow_file_lock(held), &error);
        portalocker_filelock_path_lock_file_lock_drop_own(held);
        errno = ENOLCK; /* the path names another file now */
        return -1;
    }
    record->lock = held;
    record->has_lock = true;
    record->locked = true;
    record->mode = mode;
    return 0;
}

int flock(int fd, int operation) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
        errno = EBADF;
        return -1;
    }
    int kind = operation & (LOCK_SH | LOCK_EX | LOCK_UN);
    if ((kind != LOCK_SH && kind != LOCK_EX && kind != LOCK_UN) ||
        (operation & ~(LOCK_SH | LOCK_EX | LOCK_UN | LOCK_NB)) != 0) {
        errno = EINVAL;
        return -1;
    }
    struct record *record = find(fd);
    if (record != NULL && record->ino != st.st_ino) {
        forget(fd); /* the descriptor was reused by an open this file did not see */
        record = NULL;
    }
    if (kind == LOCK_UN) {
        if (record != NULL) {
            drop_lock(record);
        }
        return 0;
    }
    if (record == NULL) {
        errno = ENOLCK;
        return -1;
    }
    lock_mode_t mode = kind == LOCK_EX ? PORTALOCKER_FILELOCK_TYPES_LOCK_MODE_EXCLUSIVE
                                       : PORTALOCKER_FILELOCK_TYPES_LOCK_MODE_SHARED;
    return lock(record, mode, (operation & LOCK_NB) == 0);
}
