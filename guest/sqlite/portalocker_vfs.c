/*
 * The `portalocker` SQLite VFS (see portalocker_vfs.h): SQLite's `unix-none`
 * VFS for file I/O, with SQLite's unix locking protocol on top of the WIT
 * `portalocker:filelock/range-lock`.
 *
 * The protocol is os_unix.c's (unixLock, posixUnlock,
 * unixCheckReservedLock), byte for byte, so native SQLite and this VFS
 * exclude each other:
 *
 *   SHARED     shared PENDING byte, then the shared range shared, then the
 *              PENDING byte released (a PENDING writer keeps new readers out)
 *   RESERVED   the RESERVED byte exclusive (one writer at a time)
 *   PENDING    the PENDING byte exclusive, on the way to EXCLUSIVE
 *   EXCLUSIVE  the shared range exclusive (no reader left)
 *
 * Every lock call is a non-blocking `try-lock`: contention is SQLITE_BUSY,
 * which SQLite's busy handler (sqlite3_busy_timeout) retries, as it does
 * natively.
 *
 * One more thing is put back: the directory flushes. os_unix.c flushes a
 * new journal's directory (and, with synchronous=EXTRA, a deleted one's)
 * by opening the directory with open(2), which wasi-libc cannot do; this
 * VFS flushes it through `wasi:filesystem` instead, so a crash cannot lose
 * a hot journal's directory entry.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "portalocker_vfs.h"
#include "sqlite3.h"

/* The lock bytes of os_unix.c (SQLite's default pending byte, 1 GiB). */
#define PENDING_BYTE 0x40000000u
#define RESERVED_BYTE (PENDING_BYTE + 1)
#define SHARED_FIRST (PENDING_BYTE + 2)
#define SHARED_SIZE 510

typedef portalocker_filelock_range_lock_lock_error_t lock_error_t;
typedef portalocker_filelock_range_lock_byte_range_t byte_range_t;
typedef wasi_filesystem_types_own_descriptor_t own_descriptor_t;

static const portalocker_filelock_range_lock_lock_mode_t SHARED =
    PORTALOCKER_FILELOCK_TYPES_LOCK_MODE_SHARED;
static const portalocker_filelock_range_lock_lock_mode_t EXCLUSIVE =
    PORTALOCKER_FILELOCK_TYPES_LOCK_MODE_EXCLUSIVE;

/* An open file: ours, with the `unix-none` file in the bytes after it. */
typedef struct {
    sqlite3_file base;
    /* The `unix-none` file doing the I/O. */
    sqlite3_file *real;
    /* Whether this is a main database, locked through `lock_file`. */
    bool locks;
    /* A `wasi:filesystem` descriptor of the database: its open file owns
     * the locks. */
    own_descriptor_t lock_file;
    /* The SQLITE_LOCK_* level held. */
    int level;
    /* A new journal's path, until its directory was synced after its first
     * sync (so that a crash cannot lose the journal's directory entry). */
    char *sync_dir_of;
} pl_file;

/* The VFS this one builds on, and this one. */
static sqlite3_vfs *base_vfs;
static sqlite3_vfs pl_vfs;

/* The preopened directories, fetched once (each call hands out new handles). */
static wasi_filesystem_preopens_list_tuple2_own_descriptor_string_t preopens;
static bool preopens_loaded;

static int sync_directory_of(const char *path);

/* --- range locks ---------------------------------------------------------- */

static wasi_filesystem_types_borrow_descriptor_t lock_handle(const pl_file *file) {
    return wasi_filesystem_types_borrow_descriptor(file->lock_file);
}

static void log_lock_error(const char *what, const lock_error_t *error) {
    if (error->tag == PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_IO) {
        sqlite3_log(SQLITE_IOERR, "portalocker vfs: %s: lock-error %d (io %d)", what,
                    (int)error->tag, (int)error->val.io);
    } else {
        sqlite3_log(SQLITE_IOERR, "portalocker vfs: %s: lock-error %d", what, (int)error->tag);
    }
}

/* Takes `length` bytes at `start` in `mode` at once: SQLITE_OK, SQLITE_BUSY
 * when another open file holds a conflicting lock, `failure` otherwise. */
static int try_range(const pl_file *file, uint64_t start, uint64_t length,
                     portalocker_filelock_range_lock_lock_mode_t mode, int failure) {
    byte_range_t range = {.start = start, .length = length};
    lock_error_t error;
    if (portalocker_filelock_range_lock_try_lock(lock_handle(file), &range, mode, &error)) {
        return SQLITE_OK;
    }
    if (error.tag == PORTALOCKER_FILELOCK_TYPES_LOCK_ERROR_ALREADY_LOCKED) {
        return SQLITE_BUSY;
    }
    log_lock_error("lock", &error);
    return failure;
}

/* Releases `length` bytes at `start` (zero: to the end). */
static int unlock_range(const pl_file *file, uint64_t start, uint64_t length) {
    byte_range_t range = {.start = start, .length = length};
    lock_error_t error;
    if (portalocker_filelock_range_lock_unlock(lock_handle(file), &range, &error)) {
        return SQLITE_OK;
    }
    log_lock_error("unlock", &error);
    return SQLITE_IOERR_UNLOCK;
}

/* --- io methods ----------------------------------------------------------- */

static int pl_lock(sqlite3_file *handle, int level) {
    pl_file *file = (pl_file *)handle;
    if (file->level >= level) {
        return SQLITE_OK;
    }
    if (!file->locks) {
        file->level = level;
        return SQLITE_OK;
    }
    int rc;
    /* A PENDING lock comes first: shared for a new reader (keeping out
     * readers while a writer waits for the last one to leave), exclusive
     * for a writer on its way to EXCLUSIVE. */
    if (level == SQLITE_LOCK_SHARED ||
        (level == SQLITE_LOCK_EXCLUSIVE && file->level == SQLITE_LOCK_RESERVED)) {
        rc = try_range(file, PENDING_BYTE, 1, level == SQLITE_LOCK_SHARED ? SHARED : EXCLUSIVE,
                       SQLITE_IOERR_LOCK);
        if (rc != SQLITE_OK) {
            return rc;
        }
        if (level == SQLITE_LOCK_EXCLUSIVE) {
            file->level = SQLITE_LOCK_PENDING;
        }
    }
    if (level == SQLITE_LOCK_SHARED) {
        rc = try_range(file, SHARED_FIRST, SHARED_SIZE, SHARED, SQLITE_IOERR_LOCK);
        int dropped = unlock_range(file, PENDING_BYTE, 1);
        if (rc == SQLITE_OK && dropped != SQLITE_OK) {
            rc = dropped;
        }
    } else if (level == SQLITE_LOCK_RESERVED) {
        rc = try_range(file, RESERVED_BYTE, 1, EXCLUSIVE, SQLITE_IOERR_LOCK);
    } else {
        rc = try_range(file, SHARED_FIRST, SHARED_SIZE, EXCLUSIVE, SQLITE_IOERR_LOCK);
    }
    if (rc == SQLITE_OK) {
        file->level = level;
    }
    return rc;
}

static int pl_unlock(sqlite3_file *handle, int level) {
    pl_file *file = (pl_file *)handle;
    if (file->level <= level) {
        return SQLITE_OK;
    }
    if (!file->locks) {
        file->level = level;
        return SQLITE_OK;
    }
    if (file->level > SQLITE_LOCK_SHARED) {
        if (level == SQLITE_LOCK_SHARED) {
            /* A downgrade of our own exclusive range: never contended. */
            int rc = try_range(file, SHARED_FIRST, SHARED_SIZE, SHARED, SQLITE_IOERR_RDLOCK);
            if (rc != SQLITE_OK) {
                return rc == SQLITE_BUSY ? SQLITE_IOERR_RDLOCK : rc;
            }
        }
        int rc = unlock_range(file, PENDING_BYTE, 2);
        if (rc != SQLITE_OK) {
            return rc;
        }
        file->level = SQLITE_LOCK_SHARED;
    }
    if (level == SQLITE_LOCK_NONE) {
        int rc = unlock_range(file, 0, 0);
        file->level = SQLITE_LOCK_NONE;
        return rc;
    }
    return SQLITE_OK;
}

static int pl_check_reserved_lock(sqlite3_file *handle, int *reserved) {
    pl_file *file = (pl_file *)handle;
    *reserved = 0;
    if (!file->locks) {
        return SQLITE_OK;
    }
    if (file->level > SQLITE_LOCK_SHARED) {
        *reserved = 1;
        return SQLITE_OK;
    }
    byte_range_t range = {.start = RESERVED_BYTE, .length = 1};
    portalocker_filelock_range_lock_option_conflict_t conflict;
    lock_error_t error;
    if (!portalocker_filelock_range_lock_test(lock_handle(file), &range, EXCLUSIVE, &conflict,
                                              &error)) {
        log_lock_error("test", &error);
        return SQLITE_IOERR_CHECKRESERVEDLOCK;
    }
    *reserved = conflict.is_some;
    return SQLITE_OK;
}

static int pl_close(sqlite3_file *handle) {
    pl_file *file = (pl_file *)handle;
    sqlite3_free(file->sync_dir_of);
    file->sync_dir_of = NULL;
    if (file->locks) {
        pl_unlock(handle, SQLITE_LOCK_NONE);
        wasi_filesystem_types_descriptor_drop_own(file->lock_file);
        file->locks = false;
    }
    return file->real->pMethods->xClose(file->real);
}

static int pl_read(sqlite3_file *handle, void *buffer, int amount, sqlite3_int64 offset) {
    sqlite3_file *real = ((pl_file *)handle)->real;
    return real->pMethods->xRead(real, buffer, amount, offset);
}

static int pl_write(sqlite3_file *handle, const void *buffer, int amount, sqlite3_int64 offset) {
    sqlite3_file *real = ((pl_file *)handle)->real;
    return real->pMethods->xWrite(real, buffer, amount, offset);
}

static int pl_truncate(sqlite3_file *handle, sqlite3_int64 size) {
    sqlite3_file *real = ((pl_file *)handle)->real;
    return real->pMethods->xTruncate(real, size);
}

static int pl_sync(sqlite3_file *handle, int flags) {
    pl_file *file = (pl_file *)handle;
    int rc = file->real->pMethods->xSync(file->real, flags);
    if (rc == SQLITE_OK && file->sync_dir_of) {
        /* As unixSync does: a failed directory flush is not the file's. */
        sync_directory_of(file->sync_dir_of);
        sqlite3_free(file->sync_dir_of);
        file->sync_dir_of = NULL;
    }
    return rc;
}

static int pl_file_size(sqlite3_file *handle, sqlite3_int64 *size) {
    sqlite3_file *real = ((pl_file *)handle)->real;
    return real->pMethods->xFileSize(real, size);
}

static int pl_file_control(sqlite3_file *handle, int op, void *argument) {
    pl_file *file = (pl_file *)handle;
    switch (op) {
    case SQLITE_FCNTL_LOCKSTATE:
        *(int *)argument = file->level;
        return SQLITE_OK;
    case SQLITE_FCNTL_VFSNAME:
        *(char **)argument = sqlite3_mprintf("%s", PORTALOCKER_VFS_NAME);
        return SQLITE_OK;
    default:
        return file->real->pMethods->xFileControl(file->real, op, argument);
    }
}

static int pl_sector_size(sqlite3_file *handle) {
    sqlite3_file *real = ((pl_file *)handle)->real;
    return real->pMethods->xSectorSize(real);
}

static int pl_device_characteristics(sqlite3_file *handle) {
    sqlite3_file *real = ((pl_file *)handle)->real;
    return real->pMethods->xDeviceCharacteristics(real);
}

/* Version 1: no shared memory (no WAL) and no memory mapping. */
static const sqlite3_io_methods pl_io = {
    .iVersion = 1,
    .xClose = pl_close,
    .xRead = pl_read,
    .xWrite = pl_write,
    .xTruncate = pl_truncate,
    .xSync = pl_sync,
    .xFileSize = pl_file_size,
    .xLock = pl_lock,
    .xUnlock = pl_unlock,
    .xCheckReservedLock = pl_check_reserved_lock,
    .xFileControl = pl_file_control,
    .xSectorSize = pl_sector_size,
    .xDeviceCharacteristics = pl_device_characteristics,
};

/* --- opening -------------------------------------------------------------- */

/* The preopen with the longest name that contains the absolute guest path
 * `path`, and the path relative to it; false if no preopen contains it. */
static bool resolve(const char *path, size_t *preopen, const char **relative) {
    if (!preopens_loaded) {
        wasi_filesystem_preopens_get_directories(&preopens);
        preopens_loaded = true;
    }
    size_t best = preopens.len, best_len = 0;
    for (size_t i = 0; i < preopens.len; i++) {
        const char *name = (const char *)preopens.ptr[i].f1.ptr;
        size_t len = preopens.ptr[i].f1.len;
        while (len > 0 && name[len - 1] == '/') {
            len--;
        }
        if (len == 1 && name[0] == '.') {
            len = 0; /* wasi-libc's working directory is `/` */
        }
        bool inside = strncmp(path, name, len) == 0 && (path[len] == '/' || path[len] == '\0');
        if (inside && (best == preopens.len || len > best_len)) {
            best = i;
            best_len = len;
        }
    }
    if (best == preopens.len) {
        sqlite3_log(SQLITE_CANTOPEN, "portalocker vfs: no preopen contains %s", path);
        return false;
    }
    *preopen = best;
    *relative = path + best_len;
    while (**relative == '/') {
        (*relative)++;
    }
    return true;
}

static wasi_filesystem_types_borrow_descriptor_t preopen_handle(size_t preopen) {
    return wasi_filesystem_types_borrow_descriptor(preopens.ptr[preopen].f0);
}

/* Opens a `wasi:filesystem` descriptor of the file at the absolute guest
 * path `path`. */
static int open_lock_file(const char *path, bool write, own_descriptor_t *out) {
    size_t preopen;
    const char *relative;
    if (!resolve(path, &preopen, &relative) || !*relative) {
        return SQLITE_CANTOPEN;
    }
    command_string_t name = {.ptr = (uint8_t *)relative, .len = strlen(relative)};
    wasi_filesystem_types_descriptor_flags_t flags = WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ;
    if (write) {
        flags |= WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_WRITE;
    }
    wasi_filesystem_types_error_code_t error;
    if (!wasi_filesystem_types_method_descriptor_open_at(
            preopen_handle(preopen), WASI_FILESYSTEM_TYPES_PATH_FLAGS_SYMLINK_FOLLOW, &name, 0,
            flags, out, &error)) {
        sqlite3_log(SQLITE_CANTOPEN, "portalocker vfs: open %s: error-code %d", path, (int)error);
        return SQLITE_CANTOPEN;
    }
    return SQLITE_OK;
}

/* Flushes the directory that holds the file at the absolute guest path
 * `path` (SQLite's unix VFS opens the directory with open(2), which
 * wasi-libc cannot do for directories, and skips the flush). SQLITE_OK when
 * flushed or when the directory cannot be opened (as natively); an I/O
 * error when the flush itself fails. */
static int sync_directory_of(const char *path) {
    size_t preopen;
    const char *relative;
    if (!resolve(path, &preopen, &relative)) {
        return SQLITE_OK;
    }
    const char *slash = strrchr(relative, '/');
    wasi_filesystem_types_error_code_t error;
    bool synced;
    if (!slash) {
        synced = wasi_filesystem_types_method_descriptor_sync(preopen_handle(preopen), &error);
    } else {
        command_string_t parent = {.ptr = (uint8_t *)relative, .len = (size_t)(slash - relative)};
        own_descriptor_t dir;
        if (!wasi_filesystem_types_method_descriptor_open_at(
                preopen_handle(preopen), WASI_FILESYSTEM_TYPES_PATH_FLAGS_SYMLINK_FOLLOW, &parent,
                WASI_FILESYSTEM_TYPES_OPEN_FLAGS_DIRECTORY,
                WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_READ, &dir, &error)) {
            return SQLITE_OK;
        }
        synced = wasi_filesystem_types_method_descriptor_sync(
            wasi_filesystem_types_borrow_descriptor(dir), &error);
        wasi_filesystem_types_descriptor_drop_own(dir);
    }
    if (!synced) {
        sqlite3_log(SQLITE_IOERR_DIR_FSYNC, "portalocker vfs: sync the directory of %s: %d", path,
                    (int)error);
        return SQLITE_IOERR_DIR_FSYNC;
    }
    return SQLITE_OK;
}

static int pl_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *handle, int flags,
                   int *out_flags) {
    (void)vfs;
    pl_file *file = (pl_file *)handle;
    memset(file, 0, sizeof *file);
    file->real = (sqlite3_file *)&file[1];
    int rc = base_vfs->xOpen(base_vfs, name, file->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if ((flags & SQLITE_OPEN_MAIN_DB) && name) {
        /* A second open of the path SQLite just opened: its open file owns
         * the locks (wasi-libc's descriptors are not component handles). */
        rc = open_lock_file(name, (flags & SQLITE_OPEN_READWRITE) != 0, &file->lock_file);
        if (rc != SQLITE_OK) {
            file->real->pMethods->xClose(file->real);
            return rc;
        }
        file->locks = true;
    }
    if ((flags & SQLITE_OPEN_CREATE) && name &&
        (flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL))) {
        file->sync_dir_of = sqlite3_mprintf("%s", name);
    }
    file->base.pMethods = &pl_io;
    return SQLITE_OK;
}

/* --- the rest of the VFS: `unix-none`'s ------------------------------------ */

static int pl_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    (void)vfs;
    int rc = base_vfs->xDelete(base_vfs, name, sync_dir);
    if (rc == SQLITE_OK && (sync_dir & 1)) {
        rc = sync_directory_of(name);
    }
    return rc;
}

static int pl_access(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
    (void)vfs;
    return base_vfs->xAccess(base_vfs, name, flags, result);
}

static int pl_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    return base_vfs->xFullPathname(base_vfs, name, size, out);
}

static int pl_randomness(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    /* getentropy takes at most 256 bytes a call (`wasi:random` underneath). */
    for (int done = 0; done < size;) {
        int chunk = size - done > 256 ? 256 : size - done;
        if (getentropy(out + done, (size_t)chunk) != 0) {
            return base_vfs->xRandomness(base_vfs, size, out);
        }
        done += chunk;
    }
    return size;
}

static int pl_sleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return base_vfs->xSleep(base_vfs, microseconds);
}

static int pl_current_time(sqlite3_vfs *vfs, double *now) {
    (void)vfs;
    return base_vfs->xCurrentTime(base_vfs, now);
}

static int pl_get_last_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return base_vfs->xGetLastError(base_vfs, size, out);
}

static int pl_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *now) {
    (void)vfs;
    return base_vfs->xCurrentTimeInt64(base_vfs, now);
}

int portalocker_vfs_register(int make_default) {
    if (!base_vfs) {
        base_vfs = sqlite3_vfs_find("unix-none");
        if (!base_vfs) {
            return SQLITE_ERROR;
        }
        pl_vfs = (sqlite3_vfs){
            .iVersion = 2,
            .szOsFile = (int)sizeof(pl_file) + base_vfs->szOsFile,
            .mxPathname = base_vfs->mxPathname,
            .zName = PORTALOCKER_VFS_NAME,
            .xOpen = pl_open,
            .xDelete = pl_delete,
            .xAccess = pl_access,
            .xFullPathname = pl_full_pathname,
            .xRandomness = pl_randomness,
            .xSleep = pl_sleep,
            .xCurrentTime = pl_current_time,
            .xGetLastError = pl_get_last_error,
            .xCurrentTimeInt64 = pl_current_time_int64,
        };
    }
    return sqlite3_vfs_register(&pl_vfs, make_default);
}
