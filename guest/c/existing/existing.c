/*
 * existing flock [--shared] [--try] [--until GATE] PATH | checks
 *
 * Existing C code, unchanged, locking through portalocker for WASI: plain
 * `flock(2)` calls on descriptors from `open`/`fopen`, with
 * guest/c/flock/portalocker_flock.c linked in (see build.sh).
 *
 * * `flock`: `fopen(PATH, "a")`, then `flock(fileno(f), LOCK_EX)` (or
 *   `LOCK_SH` with `--shared`, plus `LOCK_NB` with `--try`); prints
 *   `locked`, holds the lock until it can take a shared `flock` on GATE,
 *   unlocks, closes and prints `released`.
 * * `checks`: the semantics of `flock`, checked inside the guest; prints a
 *   line per check and `ok` last.
 *
 * Failures print `error: already-locked` (exit 2, `EWOULDBLOCK`) or
 * `error: <strerror>` (exit 1). Paths are guest paths; `/` is preopened.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"

/* wasi-libc's `open`, behind the linker's --wrap: a descriptor
 * portalocker_flock.c never sees. */
int __real_open(const char *path, int oflag, ...);

static const char USAGE[] = "usage: existing flock [--shared] [--try] [--until GATE] PATH | checks";

/* Ends the program with `status` (stdout flushed first: a reactor does not). */
static _Noreturn void finish(int status) {
    fflush(stdout);
    fflush(stderr);
    wasi_cli_exit_exit_with_code((uint8_t)status);
    abort();
}

/* Reports a failed `what` (from errno) and ends the program. */
static _Noreturn void fail(const char *what) {
    int code = errno;
    if (code == EWOULDBLOCK) {
        puts("error: already-locked");
        fprintf(stderr, "existing: %s: %s\n", what, strerror(code));
        finish(2);
    }
    printf("error: %s\n", strerror(code));
    fprintf(stderr, "existing: %s\n", what);
    finish(1);
}

/* Holds PATH with `flock` as the usage says. */
static void hold(int argc, char **argv) {
    bool shared = false, try = false;
    const char *gate = NULL, *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--shared") == 0) {
            shared = true;
        } else if (strcmp(argv[i], "--try") == 0) {
            try = true;
        } else if (strcmp(argv[i], "--until") == 0 && i + 1 < argc) {
            gate = argv[++i];
        } else if (argv[i][0] != '-' && path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "%s\n", USAGE);
            finish(1);
        }
    }
    if (path == NULL) {
        fprintf(stderr, "%s\n", USAGE);
        finish(1);
    }
    FILE *file = fopen(path, "a");
    if (file == NULL) {
        fail("fopen");
    }
    if (flock(fileno(file), (shared ? LOCK_SH : LOCK_EX) | (try ? LOCK_NB : 0)) != 0) {
        fail("flock");
    }
    puts("locked");
    fflush(stdout);
    if (gate != NULL) {
        int g = open(gate, O_RDONLY | O_CREAT, 0644);
        if (g < 0 || flock(g, LOCK_SH) != 0) {
            fail("waiting for the gate");
        }
        close(g);
    }
    if (flock(fileno(file), LOCK_UN) != 0) {
        fail("unlock");
    }
    fclose(file);
    puts("released");
}

static void check(const char *what, bool ok) {
    if (!ok) {
        printf("check failed: %s (errno %d: %s)\n", what, errno, strerror(errno));
        finish(1);
    }
    printf("%s: ok\n", what);
}

/* Whether `call` failed with `code`. */
static bool fails_with(int result, int code) {
    return result == -1 && errno == code;
}

static int rw(const char *path) {
    return open(path, O_RDWR | O_CREAT, 0644);
}

/* The semantics of `flock` inside one guest. */
static void checks(void) {
    const char *path = "/checks.lock";
    int a = rw(path), b = rw(path);
    check("open twice", a >= 0 && b >= 0);

    /* Two open files of one path conflict, as with flock(2). */
    check("lock exclusive", flock(a, LOCK_EX) == 0);
    check("second exclusive while held", fails_with(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK));
    check("second shared while held", fails_with(flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK));
    check("exclusive again: no-op", flock(a, LOCK_EX | LOCK_NB) == 0);
    check("unlock", flock(a, LOCK_UN) == 0);
    check("unlock when not held", flock(a, LOCK_UN) == 0);
    check("shared beside shared", flock(b, LOCK_SH | LOCK_NB) == 0 && flock(a, LOCK_SH | LOCK_NB) == 0);
    check("conversion to exclusive while shared elsewhere",
          fails_with(flock(a, LOCK_EX | LOCK_NB), EWOULDBLOCK));
    check("conversion once alone", flock(b, LOCK_UN) == 0 && flock(a, LOCK_EX | LOCK_NB) == 0);

    /* Closing releases: close() and fclose(). */
    close(a);
    check("close releases", flock(b, LOCK_EX | LOCK_NB) == 0 && flock(b, LOCK_UN) == 0);
    FILE *f = fopen(path, "r");
    check("fopen", f != NULL);
    check("lock through fileno(fopen())", flock(fileno(f), LOCK_SH) == 0);
    check("held through a FILE", fails_with(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK));
    fclose(f);
    check("fclose releases", flock(b, LOCK_EX | LOCK_NB) == 0 && flock(b, LOCK_UN) == 0);

    /* Paths relative to the working directory, and openat(AT_FDCWD). */
    check("mkdir", mkdir("/sub", 0755) == 0 || errno == EEXIST);
    check("chdir", chdir("/sub") == 0);
    int relative = rw("../sub/./rel.lock");
    check("chdir back", chdir("/") == 0);
    int at = openat(AT_FDCWD, "/sub/rel.lock", O_RDWR);
    check("relative path resolved",
          relative >= 0 && at >= 0 && flock(relative, LOCK_EX) == 0 &&
              fails_with(flock(at, LOCK_EX | LOCK_NB), EWOULDBLOCK));
    close(relative);
    check("openat(AT_FDCWD) locks", flock(at, LOCK_EX | LOCK_NB) == 0);
    close(at);

    /* The errors of flock(2). */
    int closed = rw(path);
    close(closed);
    check("closed descriptor", fails_with(flock(closed, LOCK_EX), EBADF));
    check("no lock type", fails_with(flock(b, LOCK_NB), EINVAL));
    check("both lock types", fails_with(flock(b, LOCK_SH | LOCK_EX), EINVAL));
    check("unknown bits", fails_with(flock(b, LOCK_EX | 64), EINVAL));
    int untracked = __real_open(path, O_RDONLY);
    check("descriptor opened without the wrapper", fails_with(flock(untracked, LOCK_SH), ENOLCK));
    close(untracked);

    /* A path that names another file now. */
    int moved = rw("/moved.lock");
    int replacement = rw("/replacement");
    close(replacement);
    check("replace", rename("/replacement", "/moved.lock") == 0);
    check("file replaced since it was opened", fails_with(flock(moved, LOCK_EX), ENOLCK));
    close(moved);

    close(b);
    puts("ok");
}

/* The `wasi:cli/run` export: the program's entry point. */
bool exports_wasi_cli_run_run(void) {
    command_list_string_t args;
    wasi_cli_environment_get_arguments(&args);
    /* C strings of the arguments after the program name. */
    int argc = args.len > 1 ? (int)args.len - 1 : 0;
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    for (int i = 0; i < argc; i++) {
        argv[i] = strndup((const char *)args.ptr[i + 1].ptr, args.ptr[i + 1].len);
    }
    command_list_string_free(&args);
    if (argc >= 1 && strcmp(argv[0], "flock") == 0) {
        hold(argc - 1, argv + 1);
    } else if (argc == 1 && strcmp(argv[0], "checks") == 0) {
        checks();
    } else {
        fprintf(stderr, "%s\n", USAGE);
        finish(1);
    }
    finish(0);
}
