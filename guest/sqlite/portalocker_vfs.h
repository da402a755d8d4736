/*
 * The `portalocker` SQLite VFS: SQLite in a WebAssembly guest sharing its
 * database with native programs and other guests.
 *
 * It is SQLite's own `unix-none` VFS (file I/O through wasi-libc) with the
 * locking put back: the lock calls take byte-range locks through the
 * `portalocker:filelock/range-lock` WIT interface, on the same bytes native
 * SQLite locks with fcntl(2) (the pending byte at 0x40000000, the reserved
 * byte after it, and the 510-byte shared range after that), so a guest's
 * transaction excludes native `sqlite3` and the other way round. The locks
 * are taken on a `wasi:filesystem` descriptor of the database file that the
 * VFS opens itself (wasi-libc's file descriptors are not component
 * handles); they belong to that open file, so two connections, in one
 * guest or in two, exclude each other like two processes.
 *
 * Rollback-journal modes only: WAL needs the `-shm` file mapped into
 * memory shared by every connection, which a guest cannot map; build SQLite
 * with SQLITE_OMIT_WAL (a WAL database then fails to open instead of being
 * used unsafely).
 *
 * Use: call portalocker_vfs_register(1) once, before opening databases, or
 * pass "portalocker" as the VFS name to sqlite3_open_v2. Database paths are
 * guest paths, resolved against the preopened directories.
 */
#ifndef PORTALOCKER_VFS_H
#define PORTALOCKER_VFS_H

/* The name the VFS is registered under. */
#define PORTALOCKER_VFS_NAME "portalocker"

/*
 * Registers the VFS (as the default one when `make_default` is non-zero).
 * Returns SQLITE_OK, or SQLITE_ERROR when SQLite has no `unix-none` VFS to
 * build on.
 */
int portalocker_vfs_register(int make_default);

#endif
