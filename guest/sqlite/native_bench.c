/*
 * native_bench DB N SQL: the native baseline of the SQLite guest's
 * `--timing`: SQLite built from the same amalgamation with the same options
 * for the host (guest/sqlite/build-native.sh), its default `unix` VFS
 * (classic fcntl locks), running the statements of SQL N times on DB with
 * the parameter `:i` bound to the round. Prints `ns_per_round=N`; on an
 * SQLite error prints `error: MESSAGE` on stderr and exits with 1.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sqlite3.h"

static int run(sqlite3 *db, const char *sql, long round) {
    const char *rest = sql;
    while (*rest) {
        sqlite3_stmt *statement = NULL;
        int rc = sqlite3_prepare_v2(db, rest, -1, &statement, &rest);
        if (rc != SQLITE_OK) {
            return rc;
        }
        if (!statement) {
            continue;
        }
        int round_index = sqlite3_bind_parameter_index(statement, ":i");
        if (round_index > 0) {
            sqlite3_bind_int64(statement, round_index, round);
        }
        while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        }
        sqlite3_finalize(statement);
        if (rc != SQLITE_DONE) {
            return rc;
        }
    }
    return SQLITE_OK;
}

int main(int argc, char **argv) {
    if (argc != 4 || atol(argv[2]) <= 0) {
        fprintf(stderr, "usage: native_bench DB N SQL\n");
        return 1;
    }
    long rounds = atol(argv[2]);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
    }
    struct timespec started, ended;
    clock_gettime(CLOCK_MONOTONIC, &started);
    for (long round = 0; rc == SQLITE_OK && round < rounds; round++) {
        rc = run(db, argv[3], round);
    }
    clock_gettime(CLOCK_MONOTONIC, &ended);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "error: %s\n", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return 1;
    }
    sqlite3_close_v2(db);
    int64_t ns = (int64_t)(ended.tv_sec - started.tv_sec) * 1000000000 +
                 (ended.tv_nsec - started.tv_nsec);
    printf("ns_per_round=%lld\n", (long long)(ns / rounds));
    return 0;
}
