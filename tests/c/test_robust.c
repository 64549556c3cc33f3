/* Reliability findings tried through the C ABI, each as a user would meet it:
 * a log sink on a closed pipe, a log callback replaced (and its data freed)
 * while other threads log, special files given to load, snapshots larger than
 * the store's limits, vectors whose norm cannot be represented, caller-given
 * time. Built with -Wall -Wextra -Werror and run plain, under ASan+UBSan and
 * under valgrind. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ov_memory.h"

#include "check.h"

#define DIM 4

/* A successful add stays a success when the log sink is a closed pipe (a dead
 * log collector, `prog | head`): the id is written, the memory is there once,
 * and every later call works. SIGPIPE is ignored, as servers do. */
static void test_closed_pipe_sink(void) {
    signal(SIGPIPE, SIG_IGN);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fds[2];
    CHECK(pipe(fds) == 0);
    close(fds[0]); /* nobody will ever read */
    CHECK(dup2(fds[1], STDOUT_FILENO) >= 0);
    close(fds[1]);

    OVMemoryProduction *m = ov_memory_create_with_config("{\"embedding_dim\": 4}");
    CHECK(ov_memory_set_log_sink(m, OV_LOG_SINK_STDOUT) == OV_STATUS_OK);
    const float v[DIM] = {1, 0, 0, 0}, w[DIM] = {0, 1, 0, 0};
    uint64_t id = 0, id2 = 0;
    OvStatus s1 = ov_memory_add_f32(m, v, DIM, "first", 1.0, NULL, &id);
    OvStatus s2 = ov_memory_add_f32(m, w, DIM, "second", 1.0, NULL, &id2);
    OvStatus s3 = ov_memory_delete(m, 99); /* NOT_FOUND logs a WARNING line too */
    size_t count = ov_memory_count(m);
    char *metrics = ov_memory_metrics_json(m);

    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    CHECK(s1 == OV_STATUS_OK && id == 1);
    CHECK(s2 == OV_STATUS_OK && id2 == 2);
    CHECK(s3 == OV_STATUS_NOT_FOUND);
    CHECK(count == 2);
    CHECK(metrics && strstr(metrics, "\"log_lines_dropped\":0") == NULL && strstr(metrics, "\"log_lines_dropped\":"));
    ov_string_free(metrics);
    ov_memory_destroy(m);
}

/* After ov_memory_set_log_callback returns, the old callback never runs again,
 * so its user_data may be freed at once, even while other threads log. Under
 * ASan a late call is a use-after-free; plain, it is a wrong magic number. */
#define MAGIC 0x0DDBA11u
struct sink {
    unsigned magic;
    atomic_ulong lines;
};
static atomic_int late_calls;
static atomic_int stop_logging;

static void counting_sink(void *user_data, const char *line, size_t len) {
    (void)line;
    (void)len;
    struct sink *s = user_data;
    if (s->magic != MAGIC) atomic_fetch_add(&late_calls, 1);
    atomic_fetch_add(&s->lines, 1);
}

static void *logger_thread(void *arg) {
    OVMemoryProduction *m = arg;
    uint64_t id = 1000000;
    while (!atomic_load(&stop_logging)) {
        OvMemoryRecord *r = NULL;
        (void)ov_memory_get(m, id++, &r); /* NOT_FOUND: one WARNING line */
    }
    return NULL;
}

/* valgrind runs one thread at a time, so busy loggers starve the rest: fewer rounds there. */
static int under_valgrind(void) {
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

static void test_replaced_callback_never_runs(void) {
    const int rounds = under_valgrind() ? 3 : 100;
    OVMemoryProduction *m = ov_memory_create_with_config("{\"embedding_dim\": 4}");
    struct sink *cur = calloc(1, sizeof *cur);
    cur->magic = MAGIC;
    CHECK(ov_memory_set_log_callback(m, counting_sink, cur) == OV_STATUS_OK);
    pthread_t t[4];
    atomic_store(&stop_logging, 0);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, logger_thread, m);
    unsigned long total = 0;
    for (int round = 0; round < rounds; round++) {
        /* Let the loggers use this callback (bounded: valgrind runs one thread at a time). */
        for (int spin = 0; spin < 1000 && atomic_load(&cur->lines) < 2; spin++) nanosleep(&(struct timespec){0, 100000}, NULL);
        struct sink *next = calloc(1, sizeof *next);
        next->magic = MAGIC;
        CHECK(ov_memory_set_log_callback(m, counting_sink, next) == OV_STATUS_OK);
        total += atomic_load(&cur->lines);
        cur->magic = 0; /* as the host frees it: any later call is a bug */
        free(cur);
        cur = next;
    }
    atomic_store(&stop_logging, 1);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    CHECK(ov_memory_set_log_callback(m, NULL, NULL) == OV_STATUS_OK);
    free(cur);
    CHECK(total >= (unsigned long)rounds);
    CHECK(atomic_load(&late_calls) == 0);
    ov_memory_destroy(m);
}

/* load/open read regular files only: a FIFO would block forever, /dev/zero
 * would never end. Each is IO at once and changes nothing. */
static void test_special_files(void) {
    char dir[] = "/tmp/ov-memory-c-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    OVMemoryProduction *m = ov_memory_create_with_config("{\"embedding_dim\": 4}");
    const float v[DIM] = {1, 0, 0, 0};
    uint64_t id;
    CHECK(ov_memory_add_f32(m, v, DIM, "keep", 1.0, NULL, &id) == OV_STATUS_OK);
    const char *paths[] = {fifo, "/dev/zero", "/dev/null", dir};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        CHECK(ov_memory_load(m, paths[i]) == OV_STATUS_IO);
        CHECK(ov_memory_open(paths[i]) == NULL && ov_last_error_code() == OV_STATUS_IO);
    }
    CHECK(ov_memory_count(m) == 1);
    ov_memory_destroy(m);
    unlink(fifo);
    rmdir(dir);
}

/* A snapshot never sets the limits it is loaded under. */
static void test_load_limits(void) {
    OVMemoryProduction *big = ov_memory_create_with_config("{\"embedding_dim\": 4, \"max_nodes\": 100000}");
    for (int i = 0; i < 12; i++) {
        const float v[DIM] = {1, (float)i, 0, 0};
        uint64_t id;
        CHECK(ov_memory_add_f32(big, v, DIM, "memory", 1.0, NULL, &id) == OV_STATUS_OK);
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    CHECK(ov_memory_to_bytes(big, &bytes, &len) == OV_STATUS_OK);
    OVMemoryProduction *small = ov_memory_create_with_config("{\"embedding_dim\": 4, \"max_nodes\": 10}");
    CHECK(ov_memory_load_bytes(small, bytes, len) == OV_STATUS_RESOURCE_EXHAUSTION);
    CHECK(ov_memory_count(small) == 0);
    OVMemoryProduction *opened = ov_memory_from_bytes(bytes, len);
    char *cfg = opened ? ov_memory_metrics_json(opened) : NULL;
    CHECK(cfg && strstr(cfg, "\"max_nodes\":10000")); /* the default limit, not the file's */
    ov_string_free(cfg);
    ov_memory_destroy(opened);
    CHECK(ov_memory_from_bytes_with_config(bytes, len, "{\"embedding_dim\": 4, \"max_nodes\": 5}") == NULL);
    CHECK(ov_last_error_code() == OV_STATUS_RESOURCE_EXHAUSTION);
    OVMemoryProduction *fits = ov_memory_from_bytes_with_config(bytes, len, "{\"embedding_dim\": 4, \"max_nodes\": 12}");
    CHECK(fits && ov_memory_count(fits) == 12);
    ov_memory_destroy(fits);
    ov_bytes_free(bytes, len);
    ov_memory_destroy(small);
    ov_memory_destroy(big);
}

/* Vectors whose norm f32 arithmetic cannot handle are rejected with context. */
static void test_unrepresentable_norms(void) {
    OVMemoryProduction *m = ov_memory_create_with_config("{\"embedding_dim\": 4}");
    const float tiny[DIM] = {1e-40f, 1e-40f, 1e-40f, 1e-40f};
    const float huge[DIM] = {3e38f, 0, 0, 0};
    uint64_t id;
    CHECK(ov_memory_add_f32(m, tiny, DIM, "subnormal", 1.0, NULL, &id) == OV_STATUS_INVALID_DATA);
    char ctx[256];
    ov_last_error_context(ctx, sizeof ctx);
    CHECK(strstr(ctx, "\"norm\"") != NULL);
    CHECK(ov_memory_add_f32(m, huge, DIM, "huge", 1.0, NULL, &id) == OV_STATUS_INVALID_DATA);
    char *r = ov_memory_retrieve_json(m, tiny, DIM, NULL);
    CHECK(r == NULL && ov_last_error_code() == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_count(m) == 0);
    /* A length that does not match the store is rejected before the vector is read. */
    size_t n = 0;
    CHECK(ov_memory_retrieve(m, tiny, (size_t)1 << 40, 1, 0.5, NULL, NULL, 1, &n) == OV_STATUS_INVALID_DATA);
    ov_memory_destroy(m);
}

/* created_at on add, now on retrieve; options are NULL or a JSON object. */
static void test_caller_time_and_options(void) {
    OVMemoryProduction *m = ov_memory_create_with_config("{\"embedding_dim\": 4}");
    const float v[DIM] = {1, 0, 0, 0};
    uint64_t id = 0;
    CHECK(ov_memory_add_with(m, v, DIM, "old", "{\"created_at\": 1683504000000, \"weight\": 2}", &id) == OV_STATUS_OK);
    OvMemoryRecord *r = NULL;
    CHECK(ov_memory_get(m, id, &r) == OV_STATUS_OK && r && r->created_at_ms == 1683504000000LL && r->weight == 2.0);
    ov_memory_record_free(r);
    CHECK(ov_memory_add_with(m, v, DIM, "x", "{\"created_at\": -5}", &id) == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_add_with(m, v, DIM, "x", "{\"created_at\": 99999999999999999}", &id) == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_add_with(m, v, DIM, "x", "{\"weight\": 1, \"weight\": 2}", &id) == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_add_with(m, v, DIM, "x", "{\"colour\": 1}", &id) == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_count(m) == 1);
    char *a = ov_memory_retrieve_json(m, v, DIM, "{\"now\": 1683590400000, \"alpha\": 0.5}");
    char *b = ov_memory_retrieve_json(m, v, DIM, "{\"now\": 1683590400000, \"alpha\": 0.5}");
    CHECK(a && b && strcmp(a, b) == 0); /* as of the same time, the same scores */
    ov_string_free(a);
    ov_string_free(b);
    const char *bad[] = {"", "null", "[]", "{\"top_k\": 1, \"top_k\": 2}", "{\"now\": -1}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(ov_memory_retrieve_json(m, v, DIM, bad[i]) == NULL && ov_last_error_code() == OV_STATUS_INVALID_DATA);
        CHECK(ov_memory_context_json(m, v, DIM, 100, bad[i]) == NULL);
    }
    CHECK(ov_memory_create_with_config("") == NULL && ov_last_error_code() == OV_STATUS_INVALID_DATA);
    ov_memory_destroy(m);
}

/* A caller's token counter (here: words) replaces ceil(bytes / 4); SIZE_MAX fails the call. */
static size_t count_words(void *user_data, const char *text, size_t len) {
    int *calls = user_data;
    (*calls)++;
    size_t words = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && (i == 0 || text[i - 1] == ' ')) words++;
    return words;
}
static size_t broken_counter(void *user_data, const char *text, size_t len) {
    (void)user_data;
    (void)text;
    (void)len;
    return SIZE_MAX;
}

static void test_token_counter(void) {
    OVMemoryProduction *m = ov_memory_create_with_config("{\"embedding_dim\": 4}");
    const float v[DIM] = {1, 0, 0, 0};
    uint64_t id;
    CHECK(ov_memory_add_f32(m, v, DIM, "one two three four five", 1.0, NULL, &id) == OV_STATUS_OK);
    int calls = 0;
    char *r = ov_memory_context_with_counter(m, v, DIM, 100, "{\"include_dates\": false}", count_words, &calls);
    CHECK(r && strstr(r, "\"tokens_used\":5") && calls == 1);
    ov_string_free(r);
    r = ov_memory_context_with_counter(m, v, DIM, 100, "{\"include_dates\": false}", NULL, NULL);
    CHECK(r && strstr(r, "\"tokens_used\":6")); /* the default: ceil(23 / 4) */
    ov_string_free(r);
    CHECK(ov_memory_context_with_counter(m, v, DIM, 100, NULL, broken_counter, NULL) == NULL);
    CHECK(ov_last_error_code() == OV_STATUS_INVALID_DATA);
    CHECK(ov_estimate_tokens("abcdefgh") == 2 && ov_estimate_tokens(NULL) == 0);
    ov_memory_destroy(m);
}

int main(void) {
    test_token_counter();
    test_closed_pipe_sink();
    test_replaced_callback_never_runs();
    test_special_files();
    test_load_limits();
    test_unrepresentable_norms();
    test_caller_time_and_options();
    printf("c-robust: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
