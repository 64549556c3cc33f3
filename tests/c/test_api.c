/* C API tests: the explicit API, ownership, buffers, logging, last error, and a
 * table of malformed calls that must each return their documented code and
 * change nothing. Built with -Wall -Wextra -Werror against the committed header
 * and run plain, under ASan+UBSan, and under valgrind. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ov_memory.h"

#include "check.h"

#define DIM 8

static void fill(float *v, int seed) {
    for (int i = 0; i < DIM; i++) v[i] = (float)sin((seed + 1) * (i + 0.5));
}

static OVMemoryProduction *make_store(void) {
    OVMemoryProduction *m = ov_memory_create_with_config(
        "{\"embedding_dim\": 8, \"max_nodes\": 100, \"log_level\": \"DEBUG\"}");
    CHECK(m != NULL);
    return m;
}

static void test_lifecycle_and_reads(void) {
    OVMemoryProduction *m = make_store();
    float v[DIM];
    fill(v, 1);
    uint64_t id = 0;
    CHECK(ov_memory_add_f32(m, v, DIM, "the user prefers tea", 0.9,
                            "{\"source\":\"chat\"}", &id) == OV_STATUS_OK);
    CHECK(id == 1);
    CHECK(ov_last_error_code() == OV_STATUS_OK);
    CHECK(ov_memory_count(m) == 1);

    OvMemoryRecord *r = NULL;
    CHECK(ov_memory_get(m, id, &r) == OV_STATUS_OK);
    CHECK(r != NULL);
    if (r) {
        CHECK(r->id == 1);
        CHECK(strcmp(r->text, "the user prefers tea") == 0);
        CHECK(r->text_len == strlen("the user prefers tea"));
        CHECK(r->weight == 0.9);
        CHECK(r->metadata_json && strcmp(r->metadata_json, "{\"source\":\"chat\"}") == 0);
        CHECK(r->embedding_len == DIM);
        CHECK(memcmp(r->embedding, v, sizeof v) == 0);
        CHECK(r->created_at_ms > 0 && r->last_accessed_ms == r->created_at_ms);
        CHECK(r->access_count == 0);
        ov_memory_record_free(r);
    }
    ov_memory_record_free(NULL);

    /* No metadata → NULL metadata_json. */
    fill(v, 2);
    CHECK(ov_memory_add_f32(m, v, DIM, "meeting moved", 1.0, NULL, &id) == OV_STATUS_OK);
    CHECK(ov_memory_get(m, id, &r) == OV_STATUS_OK);
    if (r) {
        CHECK(r->metadata_json == NULL);
        ov_memory_record_free(r);
    }

    /* Batch: all or nothing. */
    float flat[3 * DIM];
    for (int i = 0; i < 3; i++) fill(flat + i * DIM, 10 + i);
    const char *texts[3] = {"a", "b", "c"};
    double weights[3] = {1.0, 2.0, 3.0};
    const char *metas[3] = {NULL, "{\"k\":1}", NULL};
    uint64_t ids[3] = {0, 0, 0};
    CHECK(ov_memory_add_batch(m, flat, 3, DIM, texts, weights, metas, ids) == OV_STATUS_OK);
    CHECK(ids[0] == 3 && ids[1] == 4 && ids[2] == 5);
    const char *bad_texts[3] = {"a", "", "c"};
    uint64_t untouched[3] = {7, 7, 7};
    CHECK(ov_memory_add_batch(m, flat, 3, DIM, bad_texts, NULL, NULL, untouched) == OV_STATUS_INVALID_DATA);
    CHECK(untouched[0] == 7 && untouched[1] == 7 && untouched[2] == 7);
    CHECK(ov_memory_count(m) == 5);

    CHECK(ov_memory_delete(m, 4) == OV_STATUS_OK);
    CHECK(ov_memory_delete(m, 4) == OV_STATUS_NOT_FOUND);
    CHECK(ov_memory_count(m) == 4);
    fill(v, 3);
    CHECK(ov_memory_add_f32(m, v, DIM, "after delete", 1.0, NULL, &id) == OV_STATUS_OK);
    CHECK(id == 6); /* never reused */
    ov_memory_destroy(m);
    ov_memory_destroy(NULL);
}

static void test_original_api(void) {
    OVMemoryProduction *m = ov_memory_create(768, 10000, 1);
    CHECK(m != NULL);
    double e[768];
    for (int i = 0; i < 768; i++) e[i] = 0.5;
    char node_id[OV_NODE_ID_MAX];
    CHECK(ov_memory_add(m, e, "text", 0.9, node_id) == 0);
    CHECK(strcmp(node_id, "1") == 0);
    char health[512];
    size_t need = ov_memory_get_health(m, health, sizeof health);
    CHECK(need > 0 && need < sizeof health);
    CHECK(strlen(health) == need);
    CHECK(strstr(health, "\"status\":\"HEALTHY\"") != NULL);
    CHECK(health[0] == '{' && health[need - 1] == '}');
    /* Doubles beyond float range are non-finite after conversion. */
    e[3] = 1e300;
    CHECK(ov_memory_add(m, e, "text", 0.9, node_id) == OV_STATUS_INVALID_DATA);
    CHECK(strcmp(node_id, "1") == 0);
    /* Invalid create arguments: NULL and a last error. */
    CHECK(ov_memory_create(0, 10, 1) == NULL);
    CHECK(ov_last_error_code() == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_create(8, 0, 0) == NULL);
    ov_memory_destroy(m);
}

static void test_buffers_and_strings(void) {
    OVMemoryProduction *m = make_store();
    float v[DIM];
    fill(v, 1);
    uint64_t id;
    CHECK(ov_memory_add_f32(m, v, DIM, "x", 1.0, NULL, &id) == OV_STATUS_OK);

    /* Too small: empty string, never cut off; return says what is needed. */
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    size_t need = ov_memory_get_health(m, tiny, sizeof tiny);
    CHECK(need > sizeof tiny);
    CHECK(tiny[0] == '\0');
    CHECK(ov_memory_get_health(m, NULL, 0) == need || ov_memory_get_health(m, NULL, 0) > 0);
    /* The documented pattern: grow until the text fits (it may change between calls). */
    size_t cap = need + 1;
    char *big = NULL;
    for (int tries = 0; tries < 10; tries++) {
        big = realloc(big, cap);
        size_t got = ov_memory_get_health(m, big, cap);
        if (got < cap) break;
        cap = got + 1;
    }
    CHECK(big[0] == '{' && big[strlen(big) - 1] == '}');
    free(big);
    /* A buffer of exactly the needed length has no room for the NUL: empty.
     * (Retried, since the text may change length between the two calls.) */
    int exact_seen = 0;
    for (int tries = 0; tries < 20 && !exact_seen; tries++) {
        char fixed[600];
        size_t n1 = ov_memory_get_health(m, fixed, sizeof fixed);
        CHECK(n1 < sizeof fixed);
        char *exact = malloc(n1);
        memset(exact, 'z', n1);
        size_t n2 = ov_memory_get_health(m, exact, n1);
        if (n2 == n1) {
            exact_seen = 1;
            CHECK(exact[0] == '\0');
        }
        free(exact);
    }
    CHECK(exact_seen);

    char *metrics = ov_memory_metrics_json(m);
    CHECK(metrics != NULL);
    if (metrics) {
        CHECK(strstr(metrics, "\"queries_processed\":1") != NULL);
        CHECK(strstr(metrics, "\"p99_latency_ms\"") != NULL);
        CHECK(strstr(metrics, "\"error_breakdown\"") != NULL);
        ov_string_free(metrics);
    }
    char *prom = ov_memory_prometheus(m);
    CHECK(prom != NULL);
    if (prom) {
        CHECK(strstr(prom, "ov_memory_calls_total{operation=\"add\"} 1\n") != NULL);
        CHECK(strstr(prom, "# EOF") == NULL);
        ov_string_free(prom);
    }
    char *om = ov_memory_openmetrics(m);
    CHECK(om != NULL);
    if (om) {
        CHECK(strstr(om, "# TYPE ov_memory_calls counter\n") != NULL);
        CHECK(strstr(om, "# EOF\n") != NULL);
        ov_string_free(om);
    }
    ov_string_free(NULL);
    CHECK(strcmp(ov_status_name(OV_STATUS_CIRCUIT_OPEN), "CIRCUIT_OPEN") == 0);
    CHECK(strcmp(ov_status_name(99), "UNKNOWN") == 0);
    CHECK(strlen(ov_memory_version()) >= 5);
    ov_memory_destroy(m);
}

static void test_last_error(void) {
    OVMemoryProduction *m = ov_memory_create(768, 10, 1);
    float v[512];
    for (int i = 0; i < 512; i++) v[i] = 0.5f;
    uint64_t id = 42;
    CHECK(ov_memory_add_f32(m, v, 512, "text", 1.0, NULL, &id) == OV_STATUS_INVALID_DATA);
    CHECK(id == 42);
    CHECK(ov_last_error_code() == OV_STATUS_INVALID_DATA);
    char msg[256], ctx[256];
    CHECK(ov_last_error_message(msg, sizeof msg) > 0);
    CHECK(strstr(msg, "INVALID_DATA") == msg);
    CHECK(ov_last_error_context(ctx, sizeof ctx) > 0);
    CHECK(strstr(ctx, "\"expected\":768") != NULL);
    CHECK(strstr(ctx, "\"got\":512") != NULL);
    char two[2];
    CHECK(ov_last_error_context(two, sizeof two) > 2 && two[0] == '\0');
    /* Success clears it. */
    CHECK(ov_memory_count(m) == 0);
    CHECK(ov_last_error_code() == OV_STATUS_OK);
    CHECK(ov_last_error_context(ctx, sizeof ctx) == 2 && strcmp(ctx, "{}") == 0);
    ov_memory_destroy(m);
}

static void *other_thread(void *arg) {
    (void)arg;
    /* Each thread has its own last error. */
    return (void *)(uintptr_t)ov_last_error_code();
}

static void test_last_error_is_per_thread(void) {
    CHECK(ov_memory_create(0, 0, 0) == NULL);
    CHECK(ov_last_error_code() == OV_STATUS_INVALID_DATA);
    pthread_t t;
    void *res = NULL;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, &res);
    CHECK((uintptr_t)res == OV_STATUS_OK);
}

struct log_ctx {
    OVMemoryProduction *m;
    int lines;
    int debug_lines;
    int reentered;
};

static void on_log(void *user_data, const char *line, size_t len) {
    struct log_ctx *c = user_data;
    c->lines++;
    if (strlen(line) != len || line[0] != '{' || line[len - 1] != '}') c->lines = -1000;
    if (strstr(line, "\"level\":\"DEBUG\"")) c->debug_lines++;
    /* Calling back into the store from the callback must not deadlock. */
    if (!c->reentered) {
        c->reentered = 1;
        (void)ov_memory_count(c->m);
        float v[DIM];
        fill(v, 77);
        uint64_t id;
        (void)ov_memory_add_f32(c->m, v, DIM, "from the callback", 1.0, NULL, &id);
    }
}

static void test_logging(void) {
    OVMemoryProduction *m = make_store();
    struct log_ctx ctx = {m, 0, 0, 0};
    CHECK(ov_memory_set_log_callback(m, on_log, &ctx) == OV_STATUS_OK);
    float v[DIM];
    fill(v, 5);
    uint64_t id;
    CHECK(ov_memory_add_f32(m, v, DIM, "quote \" backslash \\ newline \n", 1.0, NULL, &id) == OV_STATUS_OK);
    CHECK(ctx.lines >= 2);
    CHECK(ctx.debug_lines >= 1);
    CHECK(ctx.reentered == 1);
    CHECK(ov_memory_count(m) == 2);
    CHECK(ov_memory_set_log_level(m, OV_LOG_LEVEL_CRITICAL) == OV_STATUS_OK);
    int before = ctx.lines;
    CHECK(ov_memory_add_f32(m, v, DIM, "quiet", 1.0, NULL, &id) == OV_STATUS_OK);
    CHECK(ctx.lines == before);
    CHECK(ov_memory_set_log_level(m, 5) == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_set_log_sink(m, 3) == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_set_log_sink(m, OV_LOG_SINK_NONE) == OV_STATUS_OK);
    CHECK(ov_memory_set_log_callback(m, NULL, NULL) == OV_STATUS_OK);
    CHECK(ov_memory_reset_breaker(m) == OV_STATUS_OK);
    ov_memory_destroy(m);
}

/* ------------------------------------------------------------------ malformed calls */

static OVMemoryProduction *T; /* the store the table runs against */

static OvStatus mc_add_null_store(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(NULL, v, DIM, "t", 1, NULL, &id); }
static OvStatus mc_add_null_vec(void) { uint64_t id; return ov_memory_add_f32(T, NULL, DIM, "t", 1, NULL, &id); }
static OvStatus mc_add_short(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM - 1, "t", 1, NULL, &id); }
static OvStatus mc_add_long(void) { float v[DIM + 1] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM + 1, "t", 1, NULL, &id); }
static OvStatus mc_add_nan(void) { float v[DIM] = {1}; v[2] = NAN; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", 1, NULL, &id); }
static OvStatus mc_add_inf(void) { float v[DIM] = {1}; v[0] = INFINITY; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", 1, NULL, &id); }
static OvStatus mc_add_zero(void) { float v[DIM] = {0}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", 1, NULL, &id); }
static OvStatus mc_add_null_text(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, NULL, 1, NULL, &id); }
static OvStatus mc_add_empty_text(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "", 1, NULL, &id); }
static OvStatus mc_add_blank_text(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, " \t\n", 1, NULL, &id); }
static OvStatus mc_add_bad_utf8(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "bad \xff\xfe utf8", 1, NULL, &id); }
static OvStatus mc_add_truncated_utf8(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "cut \xc5", 1, NULL, &id); }
static OvStatus mc_add_weight_zero(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", 0.0, NULL, &id); }
static OvStatus mc_add_weight_nan(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", NAN, NULL, &id); }
static OvStatus mc_add_weight_neg(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", -2.0, NULL, &id); }
static OvStatus mc_add_meta_array(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", 1, "[1,2]", &id); }
static OvStatus mc_add_meta_broken(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", 1, "{\"a\":", &id); }
static OvStatus mc_add_meta_bad_utf8(void) { float v[DIM] = {1}; uint64_t id; return ov_memory_add_f32(T, v, DIM, "t", 1, "{\"a\":\"\xff\"}", &id); }
static OvStatus mc_add_null_id_out(void) { float v[DIM] = {1}; return ov_memory_add_f32(T, v, DIM, "t", 1, NULL, NULL); }
static OvStatus mc_seed_add_null_store(void) { double e[DIM] = {1}; char id[OV_NODE_ID_MAX]; return ov_memory_add(NULL, e, "t", 1, id); }
static OvStatus mc_seed_add_null_out(void) { double e[DIM] = {1}; return ov_memory_add(T, e, "t", 1, NULL); }
static OvStatus mc_seed_add_nan_weight(void) { double e[DIM] = {1}; char id[OV_NODE_ID_MAX]; return ov_memory_add(T, e, "t", NAN, id); }
static OvStatus mc_batch_wrong_dim(void) { float v[DIM] = {1}; const char *t[1] = {"t"}; uint64_t ids[1]; return ov_memory_add_batch(T, v, 1, DIM - 1, t, NULL, NULL, ids); }
static OvStatus mc_batch_null_texts(void) { float v[DIM] = {1}; uint64_t ids[1]; return ov_memory_add_batch(T, v, 1, DIM, NULL, NULL, NULL, ids); }
static OvStatus mc_batch_null_text_item(void) { float v[DIM] = {1}; const char *t[1] = {NULL}; uint64_t ids[1]; return ov_memory_add_batch(T, v, 1, DIM, t, NULL, NULL, ids); }
static OvStatus mc_batch_empty(void) { uint64_t ids[1]; return ov_memory_add_batch(T, NULL, 0, DIM, NULL, NULL, NULL, ids); }
static OvStatus mc_batch_overflow(void) { float v[DIM] = {1}; const char *t[1] = {"t"}; uint64_t ids[1]; return ov_memory_add_batch(T, v, SIZE_MAX, DIM, t, NULL, NULL, ids); }
static OvStatus mc_get_unknown(void) { OvMemoryRecord *r = NULL; return ov_memory_get(T, 999, &r); }
static OvStatus mc_get_zero(void) { OvMemoryRecord *r = NULL; return ov_memory_get(T, 0, &r); }
static OvStatus mc_get_null_out(void) { return ov_memory_get(T, 1, NULL); }
static OvStatus mc_get_null_store(void) { OvMemoryRecord *r = NULL; return ov_memory_get(NULL, 1, &r); }
static OvStatus mc_delete_unknown(void) { return ov_memory_delete(T, 999); }
static OvStatus mc_delete_null_store(void) { return ov_memory_delete(NULL, 1); }
static OvStatus mc_level_bad(void) { return ov_memory_set_log_level(T, 42); }
static OvStatus mc_sink_bad(void) { return ov_memory_set_log_sink(T, 7); }
static OvStatus mc_reset_null(void) { return ov_memory_reset_breaker(NULL); }
static OvStatus mc_level_null(void) { return ov_memory_set_log_level(NULL, 1); }
static OvStatus mc_ret_null_query(void) { uint64_t ids[2]; size_t n; return ov_memory_retrieve(T, NULL, DIM, 2, 0.75, ids, NULL, 2, &n); }
static OvStatus mc_ret_short_query(void) { float q[DIM] = {1}; uint64_t ids[2]; size_t n; return ov_memory_retrieve(T, q, DIM - 2, 2, 0.75, ids, NULL, 2, &n); }
static OvStatus mc_ret_nan_query(void) { float q[DIM] = {1}; q[1] = NAN; uint64_t ids[2]; size_t n; return ov_memory_retrieve(T, q, DIM, 2, 0.75, ids, NULL, 2, &n); }
static OvStatus mc_ret_zero_query(void) { float q[DIM] = {0}; uint64_t ids[2]; size_t n; return ov_memory_retrieve(T, q, DIM, 2, 0.75, ids, NULL, 2, &n); }
static OvStatus mc_ret_top_k_zero(void) { float q[DIM] = {1}; uint64_t ids[2]; size_t n; return ov_memory_retrieve(T, q, DIM, 0, 0.75, ids, NULL, 2, &n); }
static OvStatus mc_ret_alpha_high(void) { float q[DIM] = {1}; uint64_t ids[2]; size_t n; return ov_memory_retrieve(T, q, DIM, 2, 1.5, ids, NULL, 2, &n); }
static OvStatus mc_ret_alpha_nan(void) { float q[DIM] = {1}; uint64_t ids[2]; size_t n; return ov_memory_retrieve(T, q, DIM, 2, NAN, ids, NULL, 2, &n); }
static OvStatus mc_ret_small_capacity(void) { float q[DIM] = {1}; uint64_t ids[2]; size_t n; return ov_memory_retrieve(T, q, DIM, 3, 0.75, ids, NULL, 2, &n); }
static OvStatus mc_ret_null_count(void) { float q[DIM] = {1}; uint64_t ids[2]; return ov_memory_retrieve(T, q, DIM, 2, 0.75, ids, NULL, 2, NULL); }
static OvStatus mc_hubs_null_out(void) { size_t n; return ov_memory_hubs(T, NULL, 5, &n); }
static OvStatus mc_hubs_small(void) { uint64_t ids[1]; size_t n; return ov_memory_hubs(T, ids, 0, &n); }
static OvStatus mc_resize_zero(void) { return ov_memory_metabolism_resize(T, 0); }
static OvStatus mc_reset_meta_null(void) { return ov_memory_metabolism_reset(NULL); }
static OvStatus mc_save_null_path(void) { return ov_memory_save(T, NULL); }
static OvStatus mc_save_empty_path(void) { return ov_memory_save(T, ""); }
static OvStatus mc_load_null_path(void) { return ov_memory_load(T, NULL); }
static OvStatus mc_load_bytes_null(void) { return ov_memory_load_bytes(T, NULL, 10); }
static OvStatus mc_to_bytes_null_out(void) { size_t n; return ov_memory_to_bytes(T, NULL, &n); }


struct malformed {
    const char *name;
    OvStatus (*call)(void);
    OvStatus expect;
};

static const struct malformed TABLE[] = {
    {"add: NULL store", mc_add_null_store, OV_STATUS_INVALID_DATA},
    {"add: NULL embedding", mc_add_null_vec, OV_STATUS_INVALID_DATA},
    {"add: length short", mc_add_short, OV_STATUS_INVALID_DATA},
    {"add: length long", mc_add_long, OV_STATUS_INVALID_DATA},
    {"add: NaN value", mc_add_nan, OV_STATUS_INVALID_DATA},
    {"add: infinite value", mc_add_inf, OV_STATUS_INVALID_DATA},
    {"add: zero vector", mc_add_zero, OV_STATUS_INVALID_DATA},
    {"add: NULL text", mc_add_null_text, OV_STATUS_INVALID_DATA},
    {"add: empty text", mc_add_empty_text, OV_STATUS_INVALID_DATA},
    {"add: whitespace text", mc_add_blank_text, OV_STATUS_INVALID_DATA},
    {"add: invalid UTF-8", mc_add_bad_utf8, OV_STATUS_INVALID_DATA},
    {"add: truncated UTF-8", mc_add_truncated_utf8, OV_STATUS_INVALID_DATA},
    {"add: weight 0", mc_add_weight_zero, OV_STATUS_INVALID_DATA},
    {"add: weight NaN", mc_add_weight_nan, OV_STATUS_INVALID_DATA},
    {"add: weight negative", mc_add_weight_neg, OV_STATUS_INVALID_DATA},
    {"add: metadata array", mc_add_meta_array, OV_STATUS_INVALID_DATA},
    {"add: metadata broken JSON", mc_add_meta_broken, OV_STATUS_INVALID_DATA},
    {"add: metadata invalid UTF-8", mc_add_meta_bad_utf8, OV_STATUS_INVALID_DATA},
    {"add: NULL id_out", mc_add_null_id_out, OV_STATUS_INVALID_DATA},
    {"seed add: NULL store", mc_seed_add_null_store, OV_STATUS_INVALID_DATA},
    {"seed add: NULL node_id_out", mc_seed_add_null_out, OV_STATUS_INVALID_DATA},
    {"seed add: NaN weight", mc_seed_add_nan_weight, OV_STATUS_INVALID_DATA},
    {"batch: wrong dim", mc_batch_wrong_dim, OV_STATUS_INVALID_DATA},
    {"batch: NULL texts", mc_batch_null_texts, OV_STATUS_INVALID_DATA},
    {"batch: NULL text item", mc_batch_null_text_item, OV_STATUS_INVALID_DATA},
    {"batch: empty", mc_batch_empty, OV_STATUS_INVALID_DATA},
    {"batch: count*dim overflows", mc_batch_overflow, OV_STATUS_INVALID_DATA},
    {"get: unknown id", mc_get_unknown, OV_STATUS_NOT_FOUND},
    {"get: id 0", mc_get_zero, OV_STATUS_NOT_FOUND},
    {"get: NULL out", mc_get_null_out, OV_STATUS_INVALID_DATA},
    {"get: NULL store", mc_get_null_store, OV_STATUS_INVALID_DATA},
    {"delete: unknown id", mc_delete_unknown, OV_STATUS_NOT_FOUND},
    {"delete: NULL store", mc_delete_null_store, OV_STATUS_INVALID_DATA},
    {"log level: out of range", mc_level_bad, OV_STATUS_INVALID_DATA},
    {"log sink: out of range", mc_sink_bad, OV_STATUS_INVALID_DATA},
    {"log level: NULL store", mc_level_null, OV_STATUS_INVALID_DATA},
    {"reset breaker: NULL store", mc_reset_null, OV_STATUS_INVALID_DATA},
    {"retrieve: NULL query", mc_ret_null_query, OV_STATUS_INVALID_DATA},
    {"retrieve: short query", mc_ret_short_query, OV_STATUS_INVALID_DATA},
    {"retrieve: NaN query", mc_ret_nan_query, OV_STATUS_INVALID_DATA},
    {"retrieve: zero query", mc_ret_zero_query, OV_STATUS_INVALID_DATA},
    {"retrieve: top_k 0", mc_ret_top_k_zero, OV_STATUS_INVALID_DATA},
    {"retrieve: alpha 1.5", mc_ret_alpha_high, OV_STATUS_INVALID_DATA},
    {"retrieve: alpha NaN", mc_ret_alpha_nan, OV_STATUS_INVALID_DATA},
    {"retrieve: capacity < top_k", mc_ret_small_capacity, OV_STATUS_INVALID_DATA},
    {"retrieve: NULL count_out", mc_ret_null_count, OV_STATUS_INVALID_DATA},
    {"hubs: NULL ids_out", mc_hubs_null_out, OV_STATUS_INVALID_DATA},
    {"hubs: capacity 0", mc_hubs_small, OV_STATUS_INVALID_DATA},
    {"metabolism resize: 0", mc_resize_zero, OV_STATUS_INVALID_DATA},
    {"metabolism reset: NULL store", mc_reset_meta_null, OV_STATUS_INVALID_DATA},
    {"save: NULL path", mc_save_null_path, OV_STATUS_INVALID_DATA},
    {"save: empty path", mc_save_empty_path, OV_STATUS_INVALID_DATA},
    {"load: NULL path", mc_load_null_path, OV_STATUS_INVALID_DATA},
    {"load bytes: NULL with length", mc_load_bytes_null, OV_STATUS_INVALID_DATA},
    {"to bytes: NULL out", mc_to_bytes_null_out, OV_STATUS_INVALID_DATA},
};

static void test_malformed_table(void) {
    T = make_store();
    float v[DIM];
    fill(v, 1);
    uint64_t id;
    CHECK(ov_memory_add_f32(T, v, DIM, "the one good memory", 1.0, NULL, &id) == OV_STATUS_OK);
    char *before = ov_memory_metrics_json(T);
    size_t n = sizeof TABLE / sizeof TABLE[0];
    CHECK(n >= 20);
    for (size_t i = 0; i < n; i++) {
        OvStatus got = TABLE[i].call();
        if (got != TABLE[i].expect) {
            fprintf(stderr, "malformed call '%s': got %s, expected %s\n", TABLE[i].name,
                    ov_status_name(got), ov_status_name(TABLE[i].expect));
        }
        CHECK(got == TABLE[i].expect);
        CHECK(ov_last_error_code() == TABLE[i].expect);
        char msg[512];
        CHECK(ov_last_error_message(msg, sizeof msg) > 0);
        CHECK(ov_memory_count(T) == 1);
    }
    /* Nothing changed: one memory, same text, breaker closed. */
    OvMemoryRecord *r = NULL;
    CHECK(ov_memory_get(T, 1, &r) == OV_STATUS_OK);
    if (r) {
        CHECK(strcmp(r->text, "the one good memory") == 0);
        ov_memory_record_free(r);
    }
    char *after = ov_memory_metrics_json(T);
    CHECK(after && strstr(after, "\"state\":\"CLOSED\"") && strstr(after, "\"consecutive_failures\":0"));
    CHECK(after && strstr(after, "\"node_count\":1"));
    ov_string_free(before);
    ov_string_free(after);
    /* Reads on NULL return their error value and set the last error. */
    CHECK(ov_memory_count(NULL) == 0);
    CHECK(ov_last_error_code() == OV_STATUS_INVALID_DATA);
    char buf[16] = "untouched";
    CHECK(ov_memory_get_health(NULL, buf, sizeof buf) == 0);
    CHECK(strcmp(buf, "untouched") == 0);
    CHECK(ov_memory_metrics_json(NULL) == NULL);
    CHECK(ov_memory_prometheus(NULL) == NULL);
    CHECK(ov_memory_openmetrics(NULL) == NULL);
    CHECK(ov_memory_create_with_config(NULL) == NULL);
    CHECK(ov_memory_create_with_config("{\"embedding_dim\": -1}") == NULL);
    CHECK(ov_memory_create_with_config("not json") == NULL);
    CHECK(ov_memory_create_with_config("[768]") == NULL);
    CHECK(ov_memory_create_with_config("{\"embedding_dim\": 4, \"x\": 1}") == NULL);
    CHECK(ov_memory_create_with_config("{\"\xff\": 1}") == NULL);
    CHECK(ov_last_error_code() == OV_STATUS_INVALID_DATA);
    /* JSON-returning calls: NULL and a last error on bad input; metabolism untouched. */
    float q[DIM];
    fill(q, 1);
    CHECK(ov_memory_context_json(T, q, DIM, 0, NULL) == NULL);
    CHECK(ov_memory_context_json(T, q, DIM, 100, "{\"depth\": 99}") == NULL);
    CHECK(ov_memory_context_json(T, q, DIM, 100, "{\"nope\": 1}") == NULL);
    CHECK(ov_memory_context_json(T, q, DIM, 100, "[") == NULL);
    CHECK(ov_memory_context_json(T, NULL, DIM, 100, NULL) == NULL);
    CHECK(ov_memory_retrieve_json(T, q, DIM, "{\"top_k\": 0}") == NULL);
    CHECK(ov_memory_retrieve_json(T, q, DIM - 1, NULL) == NULL);
    CHECK(ov_last_error_code() == OV_STATUS_INVALID_DATA);
    char *meta = ov_memory_metabolism_json(T);
    CHECK(meta && strstr(meta, "\"used_tokens\":0") != NULL);
    ov_string_free(meta);
    ov_memory_destroy(T);
}

static void test_snapshots(void) {
    OVMemoryProduction *m = make_store();
    float v[DIM];
    for (int i = 0; i < 6; i++) {
        fill(v, i);
        uint64_t id;
        CHECK(ov_memory_add_f32(m, v, DIM, "remember this", 1.0 + i, i % 2 ? "{\"odd\":true}" : NULL, &id) ==
              OV_STATUS_OK);
    }
    CHECK(ov_memory_delete(m, 3) == OV_STATUS_OK);
    uint8_t *bytes = NULL;
    size_t len = 0;
    CHECK(ov_memory_to_bytes(m, &bytes, &len) == OV_STATUS_OK);
    CHECK(bytes != NULL && len > 100 && memcmp(bytes, "OVMEMSNP", 8) == 0);

    OVMemoryProduction *copy = ov_memory_from_bytes(bytes, len);
    CHECK(copy != NULL);
    CHECK(ov_memory_count(copy) == 5);
    fill(v, 4);
    uint64_t a[3], b[3];
    double sa[3], sb[3];
    size_t na = 0, nb = 0;
    CHECK(ov_memory_retrieve(m, v, DIM, 3, 1.0, a, sa, 3, &na) == OV_STATUS_OK);
    CHECK(ov_memory_retrieve(copy, v, DIM, 3, 1.0, b, sb, 3, &nb) == OV_STATUS_OK);
    CHECK(na == 3 && nb == 3 && memcmp(a, b, sizeof a) == 0 && memcmp(sa, sb, sizeof sa) == 0);
    uint64_t next = 0;
    CHECK(ov_memory_add_f32(copy, v, DIM, "after load", 1.0, NULL, &next) == OV_STATUS_OK);
    CHECK(next == 7); /* ids stay unique after a load */

    /* Every single-byte flip is caught (and changes nothing in the target). */
    int caught = 0;
    for (size_t i = 0; i < len; i++) {
        bytes[i] ^= 0x5a;
        if (ov_memory_load_bytes(copy, bytes, len) == OV_STATUS_MEMORY_CORRUPTION) caught++;
        bytes[i] ^= 0x5a;
        ov_memory_reset_breaker(copy); /* corrupt loads count: five in a row open it */
    }
    CHECK((size_t)caught == len);
    CHECK(ov_memory_count(copy) == 6);
    const uint8_t junk[20] = {1, 2, 3};
    for (int i = 0; i < 5; i++) CHECK(ov_memory_load_bytes(copy, junk, sizeof junk) == OV_STATUS_MEMORY_CORRUPTION);
    CHECK(ov_memory_load_bytes(copy, junk, sizeof junk) == OV_STATUS_CIRCUIT_OPEN);
    ov_memory_reset_breaker(copy);
    CHECK(ov_memory_load(copy, "/nonexistent/ov-memory.snap") == OV_STATUS_IO);

    /* Files: save, open, load into an existing store. */
    const char *path = "build/test_api_snapshot.ovm";
    CHECK(ov_memory_save(m, path) == OV_STATUS_OK);
    OVMemoryProduction *opened = ov_memory_open(path);
    CHECK(opened != NULL && ov_memory_count(opened) == 5);
    CHECK(ov_memory_load(copy, path) == OV_STATUS_OK);
    CHECK(ov_memory_count(copy) == 5);
    CHECK(ov_memory_save(m, "build/no-such-dir/x.ovm") == OV_STATUS_IO);
    char ctx[256];
    CHECK(ov_last_error_context(ctx, sizeof ctx) > 0 && strstr(ctx, "\"operation\":\"create\"") != NULL);
    CHECK(ov_memory_open("build/no-such-file.ovm") == NULL && ov_last_error_code() == OV_STATUS_IO);
    bytes[len - 1] ^= 1;
    CHECK(ov_memory_from_bytes(bytes, len) == NULL && ov_last_error_code() == OV_STATUS_MEMORY_CORRUPTION);
    CHECK(ov_memory_from_bytes(bytes, 7) == NULL && ov_last_error_code() == OV_STATUS_MEMORY_CORRUPTION);
    ov_bytes_free(bytes, len);
    ov_bytes_free(NULL, 0);
    /* Autosave after every 2 changes. */
    const char *auto_path = "build/test_api_autosave.ovm";
    remove(auto_path);
    CHECK(ov_memory_set_autosave(m, auto_path, 0) == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_set_autosave(m, auto_path, 2) == OV_STATUS_OK);
    fill(v, 9);
    uint64_t aid;
    CHECK(ov_memory_add_f32(m, v, DIM, "autosaved one", 1.0, NULL, &aid) == OV_STATUS_OK);
    OVMemoryProduction *none = ov_memory_open(auto_path);
    CHECK(none == NULL && ov_last_error_code() == OV_STATUS_IO);
    CHECK(ov_memory_delete(m, aid) == OV_STATUS_OK);
    OVMemoryProduction *saved = ov_memory_open(auto_path);
    CHECK(saved != NULL && ov_memory_count(saved) == 5);
    ov_memory_destroy(saved);
    CHECK(ov_memory_set_autosave(m, NULL, 0) == OV_STATUS_OK);
    ov_memory_destroy(opened);
    ov_memory_destroy(copy);
    ov_memory_destroy(m);
}

static void test_retrieve_and_context(void) {
    OVMemoryProduction *m = make_store();
    CHECK(ov_memory_set_log_level(m, OV_LOG_LEVEL_INFO) == OV_STATUS_OK);
    float v[DIM];
    for (int i = 0; i < 10; i++) {
        fill(v, i);
        uint64_t id;
        CHECK(ov_memory_add_f32(m, v, DIM, i % 2 ? "an odd memory" : "an even memory", 1.0 + i, NULL, &id) ==
              OV_STATUS_OK);
    }
    fill(v, 3);
    uint64_t ids[4] = {0};
    double scores[4] = {0};
    size_t n = 99;
    CHECK(ov_memory_retrieve(m, v, DIM, 4, 1.0, ids, scores, 4, &n) == OV_STATUS_OK);
    CHECK(n == 4);
    CHECK(ids[0] == 4); /* the memory made from the same vector (ids start at 1) */
    CHECK(scores[0] > 0.0); /* P at alpha 1 is relevance: standard deviations above the mean */
    for (int i = 1; i < 4; i++) CHECK(scores[i - 1] >= scores[i]);
    CHECK(ov_memory_retrieve(m, v, DIM, 50, OV_DEFAULT_ALPHA, NULL, NULL, 50, &n) == OV_STATUS_OK);
    CHECK(n == 10); /* clamped to the number of memories */
    char *json = ov_memory_retrieve_json(m, v, DIM, "{\"top_k\": 2, \"alpha\": 1.0}");
    CHECK(json && strstr(json, "\"id\":4") && strstr(json, "\"S\":") && strstr(json, "\"P\":"));
    ov_string_free(json);
    char *ctx = ov_memory_context_json(m, v, DIM, 50, "{\"separator\": \" | \"}");
    CHECK(ctx && strstr(ctx, "\"context\":") && strstr(ctx, "\"trigger\":\"floor\""));
    CHECK(ctx && strstr(ctx, "\"guardrails\":{\"drift\":0"));
    ov_string_free(ctx);
    char *meta = ov_memory_metabolism_json(m);
    CHECK(meta && strstr(meta, "\"used_tokens\":0") == NULL); /* charged */
    ov_string_free(meta);
    CHECK(ov_memory_metabolism_reset(m) == OV_STATUS_OK);
    CHECK(ov_memory_metabolism_resize(m, 500) == OV_STATUS_OK);
    meta = ov_memory_metabolism_json(m);
    CHECK(meta && strstr(meta, "\"budget_tokens\":500") && strstr(meta, "\"state\":\"HEALTHY\""));
    ov_string_free(meta);
    uint64_t hubs[5];
    size_t nh = 0;
    CHECK(ov_memory_hubs(m, hubs, 5, &nh) == OV_STATUS_OK);
    CHECK(nh == 1); /* max(1, floor(0.05 * 10)) */
    ov_memory_destroy(m);
}

/* A batch takes creation times and a deadline in its options; weights and
 * metadata only as their own arguments. */
static void test_batch_options(void) {
    OVMemoryProduction *m = make_store();
    float v[2 * DIM];
    fill(v, 1);
    fill(v + DIM, 2);
    const char *texts[2] = {"first", "second"};
    uint64_t ids[2] = {0, 0};
    CHECK(ov_memory_add_batch_with(m, v, 2, DIM, texts, NULL, NULL,
                                   "{\"created_at\": [1700000000000, 1700000001000], \"timeout_ms\": 5000}",
                                   ids) == OV_STATUS_OK);
    OvMemoryRecord *r = NULL;
    CHECK(ov_memory_get(m, ids[1], &r) == OV_STATUS_OK);
    if (r) {
        CHECK(r->created_at_ms == 1700000001000);
        ov_memory_record_free(r);
    }
    CHECK(ov_memory_add_batch_with(m, v, 2, DIM, texts, NULL, NULL, "{\"weights\": [1, 1]}", ids)
          == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_add_batch_with(m, v, 2, DIM, texts, NULL, NULL, "{\"created_at\": [1]}", ids)
          == OV_STATUS_INVALID_DATA);
    CHECK(ov_memory_count(m) == 2);
    ov_memory_destroy(m);
}

int main(void) {
    test_lifecycle_and_reads();
    test_batch_options();
    test_original_api();
    test_buffers_and_strings();
    test_last_error();
    test_last_error_is_per_thread();
    test_logging();
    test_malformed_table();
    test_retrieve_and_context();
    test_snapshots();
    printf("c-api: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
