/* Concurrency stress through the C ABI: THREADS threads each run OPS mixed
 * operations (add, add_batch, get, delete, retrieve, retrieve_json, context,
 * hubs, health, metrics, to_bytes) on one store, while a log callback
 * re-enters the store. A watchdog aborts the run if no operation completes
 * for WATCHDOG_SECONDS (a deadlock). At the end the store must hold exactly
 * the memories added minus those deleted, and every listed id must be gettable.
 * Usage: stress [threads] [ops]  (defaults 8 and 10000). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ov_memory.h"

#define DIM 16
#define WATCHDOG_SECONDS 120

static OVMemoryProduction *store;
static atomic_long adds, deletes, progress, callback_lines, failures;
static atomic_int done;
static int ops_per_thread = 10000;

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_vec(float *v, uint64_t *rng) {
    for (int i = 0; i < DIM; i++) v[i] = (float)((int)(next_rand(rng) % 2001) - 1000) / 1000.0f;
    v[0] += 1.5f; /* never the zero vector */
}

/* Re-enters the store from inside a log line: a read, and every 64th line a health report. */
static void reentrant_callback(void *user_data, const char *line, size_t len) {
    (void)user_data;
    (void)line;
    (void)len;
    long n = atomic_fetch_add(&callback_lines, 1);
    (void)ov_memory_count(store);
    if (n % 64 == 0) {
        char buf[1024];
        (void)ov_memory_get_health(store, buf, sizeof buf);
    }
}

static void fail(const char *what, OvStatus s) {
    char msg[256];
    ov_last_error_message(msg, sizeof msg);
    fprintf(stderr, "stress: %s failed with %s: %s\n", what, ov_status_name(s), msg);
    atomic_fetch_add(&failures, 1);
}

static void *worker(void *arg) {
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)arg * 0x2545F4914F6CDD1Dull;
    uint64_t mine[256];
    int nmine = 0;
    float v[DIM], batch[4 * DIM];
    for (int op = 0; op < ops_per_thread; op++) {
        unsigned r = (unsigned)(next_rand(&rng) % 100);
        OvStatus s = OV_STATUS_OK;
        if (r < 20) {
            random_vec(v, &rng);
            uint64_t id;
            s = ov_memory_add_f32(store, v, DIM, "stress memory", 1.0, "{\"t\":1}", &id);
            if (s == OV_STATUS_OK) {
                atomic_fetch_add(&adds, 1);
                if (nmine < 256) mine[nmine++] = id;
            } else fail("add", s);
        } else if (r < 23) {
            for (int k = 0; k < 4; k++) random_vec(batch + k * DIM, &rng);
            const char *texts[4] = {"b0", "b1", "b2", "b3"};
            uint64_t ids[4];
            s = ov_memory_add_batch(store, batch, 4, DIM, texts, NULL, NULL, ids);
            if (s == OV_STATUS_OK) {
                atomic_fetch_add(&adds, 4);
                for (int k = 0; k < 4 && nmine < 256; k++) mine[nmine++] = ids[k];
            } else fail("add_batch", s);
        } else if (r < 55 && nmine > 0) {
            int k = (int)(next_rand(&rng) % (uint64_t)nmine);
            s = ov_memory_delete(store, mine[k]);
            if (s == OV_STATUS_OK) atomic_fetch_add(&deletes, 1);
            else fail("delete", s);
            mine[k] = mine[--nmine];
        } else if (r < 70) {
            random_vec(v, &rng);
            uint64_t ids[10];
            double scores[10];
            size_t n = 0;
            s = ov_memory_retrieve(store, v, DIM, 10, 0.75, ids, scores, 10, &n);
            if (s != OV_STATUS_OK) fail("retrieve", s);
        } else if (r < 75) {
            random_vec(v, &rng);
            char *j = ov_memory_retrieve_json(store, v, DIM, "{\"top_k\": 3}");
            if (!j) fail("retrieve_json", ov_last_error_code());
            ov_string_free(j);
        } else if (r < 82) {
            random_vec(v, &rng);
            char *j = ov_memory_context_json(store, v, DIM, 200, NULL);
            if (!j) fail("context", ov_last_error_code());
            ov_string_free(j);
        } else if (r < 92) {
            OvMemoryRecord *rec = NULL;
            uint64_t id = 1 + next_rand(&rng) % (uint64_t)(atomic_load(&adds) + 1);
            s = ov_memory_get(store, id, &rec);
            if (s == OV_STATUS_OK) ov_memory_record_free(rec);
            else if (s != OV_STATUS_NOT_FOUND) fail("get", s);
        } else if (r < 95) {
            uint64_t hubs[8];
            size_t n = 0;
            s = ov_memory_hubs(store, hubs, 8, &n);
            if (s != OV_STATUS_OK) fail("hubs", s);
        } else if (r < 98) {
            char buf[1024];
            if (ov_memory_get_health(store, buf, sizeof buf) == 0) fail("health", ov_last_error_code());
            char *m = ov_memory_metrics_json(store);
            if (!m) fail("metrics", ov_last_error_code());
            ov_string_free(m);
        } else {
            uint8_t *bytes = NULL;
            size_t len = 0;
            s = ov_memory_to_bytes(store, &bytes, &len);
            if (s == OV_STATUS_OK) ov_bytes_free(bytes, len);
            else fail("to_bytes", s);
        }
        atomic_fetch_add(&progress, 1);
    }
    return NULL;
}

static void *watchdog(void *arg) {
    (void)arg;
    long last = -1;
    int still = 0;
    while (!atomic_load(&done)) {
        sleep(1);
        long now = atomic_load(&progress);
        still = now == last ? still + 1 : 0;
        last = now;
        if (still >= WATCHDOG_SECONDS) {
            fprintf(stderr, "stress: no progress for %d s at %ld operations: deadlock\n", WATCHDOG_SECONDS, now);
            abort();
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 8;
    if (argc > 2) ops_per_thread = atoi(argv[2]);
    if (threads < 1 || threads > 64 || ops_per_thread < 1) return 2;
    store = ov_memory_create_with_config(
        "{\"embedding_dim\": 16, \"max_nodes\": 1000000, \"log_level\": \"INFO\", \"timeout_ms\": 600000}");
    if (!store) return 2;
    ov_memory_set_log_callback(store, reentrant_callback, NULL);
    pthread_t dog, t[64];
    pthread_create(&dog, NULL, watchdog, NULL);
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    atomic_store(&done, 1);
    pthread_join(dog, NULL);

    long expected = atomic_load(&adds) - atomic_load(&deletes);
    size_t count = ov_memory_count(store);
    int ok = (long)count == expected && atomic_load(&failures) == 0 && atomic_load(&callback_lines) > 0;
    /* Every id below the counter is either gettable or was deleted: count the gettable ones. */
    long gettable = 0;
    for (uint64_t id = 1; id <= (uint64_t)atomic_load(&adds); id++) {
        OvMemoryRecord *rec = NULL;
        if (ov_memory_get(store, id, &rec) == OV_STATUS_OK) {
            gettable++;
            ov_memory_record_free(rec);
        }
    }
    ok = ok && gettable == expected;
    ov_memory_destroy(store);
    printf("stress: %d threads x %d ops, %ld adds, %ld deletes, %zu memories, %ld gettable, %ld log lines "
           "re-entered, %ld failures\n",
           threads, ops_per_thread, atomic_load(&adds), atomic_load(&deletes), count, gettable,
           atomic_load(&callback_lines), atomic_load(&failures));
    printf("stress: %d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
