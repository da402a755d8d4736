/*
 * sqlite [--no-lock] [--timeout MS] [--repeat N] [--keep-going] [--timing] DB SQL...
 *
 * The SQLite guest of portalocker:filelock: opens the database DB (a guest
 * path, created if missing) with the `portalocker` VFS, whose locks are
 * byte-range locks on the bytes native SQLite locks (see
 * portalocker_vfs.h), and runs each SQL argument in turn, printing every
 * result row as its columns separated by `|` (NULL as nothing), like the
 * `sqlite3` shell's list mode.
 *
 * * `--timeout MS` is the busy timeout (default 5000): how long a statement
 *   retries while another connection (a guest, a native program) holds the
 *   database locked.
 * * `--repeat N` runs the SQL arguments N times; the parameter `:i` in a
 *   statement is bound to the round (0 to N-1).
 * * `--keep-going`: a round that fails is rolled back and the next one runs
 *   (the exit status is that of the last failure).
 * * `--timing` prints `ns_per_round=N` after the rounds: the mean time of a
 *   round (the benchmark compares it with guest/sqlite/native_bench.c).
 * * `--no-lock` uses SQLite's `unix-none` VFS instead: no locking at all,
 *   what SQLite's WASI build does without a lock import (to show what goes
 *   wrong).
 *
 * Two SQL functions let tests hold a transaction open at a known point:
 * `sleep_ms(N)` sleeps N milliseconds, and `gate(PATH)` waits until it can
 * take a shared whole-file lock on PATH (relative to the first preopened
 * directory; the caller holds it exclusively for as long as the guest must
 * wait), then releases it. Both return NULL.
 *
 * On an SQLite error it prints `error: MESSAGE` on stderr and exits with 5
 * when the database stayed locked (SQLITE_BUSY: "database is locked"), 1
 * otherwise.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "portalocker_vfs.h"
#include "sqlite3.h"

static const char USAGE[] =
    "usage: sqlite [--no-lock] [--timeout MS] [--repeat N] [--keep-going] [--timing] DB SQL...";

/* What the program was asked to do. The strings are NUL-terminated copies. */
struct request {
    bool no_lock;
    bool keep_going;
    bool timing;
    int timeout_ms;
    long repeat;
    char *db;
    char **sql;
    size_t statements;
};

/* A NUL-terminated copy of `arg`. */
static char *copy(const command_string_t *arg) {
    char *text = malloc(arg->len + 1);
    if (text) {
        memcpy(text, arg->ptr, arg->len);
        text[arg->len] = '\0';
    }
    return text;
}

/* Parses a decimal number of at most 9 digits; -1 if it is not one. */
static long number(const char *text) {
    size_t len = strlen(text);
    if (len == 0 || len > 9) {
        return -1;
    }
    long value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

/* Parses the arguments (after the program name) into `request`. */
static bool parse(const command_list_string_t *args, struct request *request) {
    *request = (struct request){.timeout_ms = 5000, .repeat = 1};
    request->sql = calloc(args->len, sizeof *request->sql);
    if (!request->sql) {
        return false;
    }
    for (size_t i = 1; i < args->len; i++) {
        char *arg = copy(&args->ptr[i]);
        if (!arg) {
            return false;
        }
        char *value = NULL;
        bool takes_value = strcmp(arg, "--timeout") == 0 || strcmp(arg, "--repeat") == 0;
        if (takes_value) {
            if (i + 1 >= args->len || !(value = copy(&args->ptr[++i]))) {
                fprintf(stderr, "error: %s takes a number\n", arg);
                free(arg);
                return false;
            }
        }
        if (strcmp(arg, "--no-lock") == 0) {
            request->no_lock = true;
        } else if (strcmp(arg, "--keep-going") == 0) {
            request->keep_going = true;
        } else if (strcmp(arg, "--timing") == 0) {
            request->timing = true;
        } else if (takes_value) {
            long n = number(value);
            if (n < 0 || (strcmp(arg, "--repeat") == 0 && n == 0)) {
                fprintf(stderr, "error: %s takes a number, not `%s`\n", arg, value);
                free(arg);
                free(value);
                return false;
            }
            if (strcmp(arg, "--timeout") == 0) {
                request->timeout_ms = (int)n;
            } else {
                request->repeat = n;
            }
        } else if (arg[0] == '-' && arg[1] == '-') {
            fprintf(stderr, "error: unknown option %s\n", arg);
            free(arg);
            return false;
        } else if (!request->db) {
            request->db = arg;
            arg = NULL;
        } else {
            request->sql[request->statements++] = arg;
            arg = NULL;
        }
        free(arg);
        free(value);
    }
    if (!request->db || request->statements == 0) {
        fprintf(stderr, "error: expected DB and SQL\n");
        return false;
    }
    return true;
}

/* Prints the current row of `statement`. */
static void print_row(sqlite3_stmt *statement) {
    int columns = sqlite3_column_count(statement);
    for (int column = 0; column < columns; column++) {
        const unsigned char *text = sqlite3_column_text(statement, column);
        printf("%s%s", column ? "|" : "", text ? (const char *)text : "");
    }
    putchar('\n');
}

/* Runs every statement of `sql`, binding `:i` to `round`; returns the SQLite
 * result code of the first failure (after reporting it), or SQLITE_OK. */
static int run(sqlite3 *db, const char *sql, long round) {
    const char *rest = sql;
    while (*rest) {
        sqlite3_stmt *statement = NULL;
        const char *next = NULL;
        int rc = sqlite3_prepare_v2(db, rest, -1, &statement, &next);
        if (rc != SQLITE_OK) {
            fprintf(stderr, "error: %s\n", sqlite3_errmsg(db));
            return rc;
        }
        rest = next;
        if (!statement) {
            continue; /* whitespace or a comment */
        }
        int round_index = sqlite3_bind_parameter_index(statement, ":i");
        if (round_index > 0) {
            sqlite3_bind_int64(statement, round_index, round);
        }
        while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
            print_row(statement);
        }
        if (rc != SQLITE_DONE) {
            fprintf(stderr, "error: %s\n", sqlite3_errmsg(db));
            sqlite3_finalize(statement);
            return rc;
        }
        sqlite3_finalize(statement);
    }
    return SQLITE_OK;
}

/* `sleep_ms(N)`: sleeps N milliseconds. */
static void sleep_ms(sqlite3_context *context, int argc, sqlite3_value **argv) {
    (void)argc;
    sqlite3_int64 ms = sqlite3_value_int64(argv[0]);
    if (ms > 0) {
        usleep((useconds_t)(ms * 1000));
    }
    sqlite3_result_null(context);
}

/* `gate(PATH)`: waits for a shared whole-file lock on PATH in the first
 * preopened directory, then releases it. */
static void gate(sqlite3_context *context, int argc, sqlite3_value **argv) {
    (void)argc;
    const unsigned char *text = sqlite3_value_text(argv[0]);
    if (!text) {
        sqlite3_result_error(context, "gate(PATH) takes a path", -1);
        return;
    }
    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_t preopens;
    wasi_filesystem_preopens_get_directories(&preopens);
    const char *failure = preopens.len == 0 ? "no preopened directory" : NULL;
    if (!failure) {
        command_string_t path = {.ptr = (uint8_t *)text, .len = strlen((const char *)text)};
        portalocker_filelock_types_lock_options_t options = {
            .mode = PORTALOCKER_FILELOCK_TYPES_LOCK_MODE_SHARED,
            .timeout = {.is_some = false},
            .create = true,
            .write = false,
            .truncate = false,
            .append = false,
        };
        portalocker_filelock_path_lock_own_file_lock_t lock;
        portalocker_filelock_types_lock_error_t error;
        if (portalocker_filelock_path_lock_static_file_lock_acquire(
                wasi_filesystem_types_borrow_descriptor(preopens.ptr[0].f0), &path, &options,
                &lock, &error)) {
            portalocker_filelock_path_lock_file_lock_drop_own(lock);
        } else {
            failure = "gate(PATH) could not lock PATH";
        }
    }
    for (size_t i = 0; i < preopens.len; i++) {
        wasi_filesystem_types_descriptor_drop_own(preopens.ptr[i].f0);
    }
    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_free(&preopens);
    if (failure) {
        sqlite3_result_error(context, failure, -1);
    } else {
        sqlite3_result_null(context);
    }
}

/* The exit status for an SQLite result code. */
static int status_of(int rc) {
    switch (rc & 0xff) {
    case SQLITE_OK: return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return 5;
    default: return 1;
    }
}

/* Runs the program; returns its exit status. */
static int sqlite(const command_list_string_t *args) {
    struct request request;
    if (!parse(args, &request)) {
        fprintf(stderr, "%s\n", USAGE);
        return 1;
    }
    int rc = portalocker_vfs_register(0);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "error: cannot register the portalocker VFS (%d)\n", rc);
        return 1;
    }
    sqlite3 *db = NULL;
    rc = sqlite3_open_v2(request.db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                         request.no_lock ? "unix-none" : PORTALOCKER_VFS_NAME);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "error: cannot open %s: %s\n", request.db,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    } else {
        sqlite3_busy_timeout(db, request.timeout_ms);
        sqlite3_create_function(db, "sleep_ms", 1, SQLITE_UTF8, NULL, sleep_ms, NULL, NULL);
        sqlite3_create_function(db, "gate", 1, SQLITE_UTF8, NULL, gate, NULL, NULL);
        int failed = SQLITE_OK;
        struct timespec started;
        clock_gettime(CLOCK_MONOTONIC, &started);
        for (long round = 0; round < request.repeat; round++) {
            rc = SQLITE_OK;
            for (size_t i = 0; rc == SQLITE_OK && i < request.statements; i++) {
                rc = run(db, request.sql[i], round);
            }
            if (rc != SQLITE_OK) {
                failed = rc;
                if (!request.keep_going) {
                    break;
                }
                if (!sqlite3_get_autocommit(db)) {
                    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                }
            }
        }
        rc = failed;
        if (request.timing && rc == SQLITE_OK) {
            struct timespec ended;
            clock_gettime(CLOCK_MONOTONIC, &ended);
            int64_t ns = (int64_t)(ended.tv_sec - started.tv_sec) * 1000000000 +
                         (ended.tv_nsec - started.tv_nsec);
            printf("ns_per_round=%lld\n", (long long)(ns / request.repeat));
        }
    }
    sqlite3_close_v2(db);
    for (size_t i = 0; i < request.statements; i++) {
        free(request.sql[i]);
    }
    free(request.sql);
    free(request.db);
    return status_of(rc);
}

/* The `wasi:cli/run` export: the program's entry point. */
bool exports_wasi_cli_run_run(void) {
    command_list_string_t args;
    wasi_cli_environment_get_arguments(&args);
    int status = sqlite(&args);
    command_list_string_free(&args);
    /* A reactor has no exit-time flush of stdio: flush before leaving. */
    fflush(stdout);
    fflush(stderr);
    if (status != 0) {
        wasi_cli_exit_exit_with_code((uint8_t)status); /* does not return */
    }
    return true;
}
