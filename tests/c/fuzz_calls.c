/* A call-sequence fuzzer for the C ABI: random valid and invalid calls of
 * every entry point on a few stores, with the engine's promises checked from
 * outside after every call:
 *   - no call returns INTERNAL, and a failed call changes nothing;
 *   - count = memories added - memories deleted (a model of the live ids);
 *   - every id that retrieve, context or hubs returns is live;
 *   - the health report is complete JSON under 512 bytes with a known status;
 *   - loading corrupted snapshot bytes is MEMORY_CORRUPTION and changes nothing;
 *   - text-only queries succeed only with a searchable text, and a failing
 *     token counter fails the context call;
 *   - upserts keep ids, updates never change the count, listed and
 *     batch-retrieved ids are live, exported text imports into a new store.
 * Built with AddressSanitizer + UBSan, so memory errors end the run too.
 * Usage: fuzz_calls SECONDS [SEED]. A failure prints the seed and the step. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ov_memory.h"

#define DIM 6
#define MAX_LIVE 4096

static uint64_t rng;
static unsigned long step;
static unsigned long seed;
static int failures;
/* The store's configuration: each new store takes the next vector precision
 * in turn (a snapshot loads only into a store of its own precision). */
static char config[160];

static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static unsigned pick(unsigned n) { return (unsigned)(rnd() % n); }

/* The model: which ids are live. */
static uint64_t live[MAX_LIVE];
static size_t nlive;
static uint64_t max_id_seen; /* over every store: a loaded file may come from an earlier one */
static int reloaded;         /* a load succeeded: the contents were replaced */

static int is_live(uint64_t id) {
    for (size_t i = 0; i < nlive; i++)
        if (live[i] == id) return 1;
    return 0;
}
static void model_add(uint64_t id) {
    if (id > max_id_seen) max_id_seen = id;
    if (nlive < MAX_LIVE) live[nlive++] = id;
}
static void model_del(uint64_t id) {
    for (size_t i = 0; i < nlive; i++)
        if (live[i] == id) {
            live[i] = live[--nlive];
            return;
        }
}

#define EXPECT(cond, what)                                                                          \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            char msg_[256];                                                                         \
            ov_last_error_message(msg_, sizeof msg_);                                               \
            fprintf(stderr, "fuzz_calls: seed %lu step %lu: %s (%s) [last error: %s]\n", seed, step, \
                    what, #cond, msg_);                                                             \
            failures++;                                                                             \
        }                                                                                           \
    } while (0)

static void expect_status(OvStatus s, const char *what) {
    EXPECT(s != OV_STATUS_INTERNAL, what);
    EXPECT(s <= OV_STATUS_INTERNAL, what);
}

/* A random vector: mostly good, sometimes NaN, infinite, zero, subnormal or huge. */
static int random_vector(float *v) {
    for (int i = 0; i < DIM; i++) v[i] = (float)((int)pick(2001) - 1000) / 1000.0f;
    v[0] += 1.1f;
    switch (pick(12)) {
    case 0: v[pick(DIM)] = NAN; return 0;
    case 1: v[pick(DIM)] = INFINITY; return 0;
    case 2: memset(v, 0, sizeof(float) * DIM); return 0;
    case 3: for (int i = 0; i < DIM; i++) v[i] = 1e-40f; return 0;
    case 4: v[pick(DIM)] = 3e38f; return 0;
    default: return 1;
    }
}

static const char *random_text(int *ok) {
    static const char *good[] = {"the user prefers tea", "standup moved to 10:30", "żółw 🐢", "x",
                                 "quote \" backslash \\ newline \n"};
    static const char *bad[] = {"", "   \t\n", "\xff\xfe broken utf-8"};
    if (pick(8) == 0) {
        *ok = 0;
        return bad[pick(3)];
    }
    *ok = 1;
    return good[pick(5)];
}

static const char *random_options(int *ok) {
    static const char *good[] = {"{}", "{\"top_k\": 3}", "{\"top_k\": 1, \"alpha\": 1}", "{\"alpha\": 0}",
                                 "{\"now\": 1700000000000}", "{\"timeout_ms\": 1000}", "{\"scoring\": \"product\"}",
                                 "{\"text\": \"the user prefers tea\"}", "{\"text\": \"żółw 🐢\", \"hybrid_weight\": 0.3}"};
    static const char *bad[] = {"", "null", "[]", "{", "{\"top_k\": 0}", "{\"alpha\": 2}", "{\"nope\": 1}",
                                "{\"top_k\": 1, \"top_k\": 2}", "{\"now\": -1}", "{\"timeout_ms\": 0}",
                                "{\"hybrid_weight\": -1}", "{\"text\": 5}"};
    if (pick(4) == 0) {
        *ok = 0;
        return bad[pick(sizeof bad / sizeof *bad)];
    }
    *ok = 1;
    return good[pick(sizeof good / sizeof *good)];
}

/* Token counters for ov_memory_context_with_counter: one that works, one that fails. */
static size_t count_bytes(void *user_data, const char *text, size_t len) {
    (void)user_data;
    return strlen(text) == len ? len / 3 : 0;
}
static size_t failing_counter(void *user_data, const char *text, size_t len) {
    (void)user_data;
    (void)text;
    (void)len;
    return SIZE_MAX;
}

static void check_health(OVMemoryProduction *m) {
    char buf[512];
    size_t need = ov_memory_get_health(m, buf, sizeof buf);
    EXPECT(need > 0 && need < sizeof buf, "health fits 512 bytes");
    cJSON *h = cJSON_Parse(buf);
    EXPECT(h != NULL, "health is JSON");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(h, "status");
    EXPECT(cJSON_IsString(st) && (!strcmp(st->valuestring, "HEALTHY") || !strcmp(st->valuestring, "WARNING") ||
                                  !strcmp(st->valuestring, "CRITICAL")),
           "health status");
    cJSON_Delete(h);
}

static void check_ids(const uint64_t *ids, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) EXPECT(is_live(ids[i]), what);
}

static void check_json_ids(const char *json, const char *array_key, const char *what) {
    cJSON *doc = cJSON_Parse(json);
    EXPECT(doc != NULL, what);
    const cJSON *arr = array_key ? cJSON_GetObjectItemCaseSensitive(doc, array_key) : doc;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        EXPECT(cJSON_IsNumber(id) && is_live((uint64_t)id->valuedouble), what);
    }
    cJSON_Delete(doc);
}

static void one_call(OVMemoryProduction *m, const char *path) {
    float v[DIM];
    int vok = random_vector(v), tok = 1, ook = 1;
    size_t before = ov_memory_count(m);
    OvStatus s;
    switch (pick(28)) {
    case 0: case 1: case 2: { /* add_f32 */
        const char *t = random_text(&tok);
        double w = pick(10) == 0 ? (pick(2) ? -1.0 : NAN) : 0.5 + pick(3);
        const char *meta = pick(6) == 0 ? "[1]" : pick(3) == 0 ? "{\"k\": {\"n\": 1}}" : NULL;
        uint64_t id = 0;
        size_t len = pick(10) == 0 ? DIM + 1 : DIM;
        s = ov_memory_add_f32(m, v, len, t, w, meta, &id);
        expect_status(s, "add_f32");
        int valid = vok && tok && w > 0 && (!meta || meta[0] == '{') && len == DIM;
        if (s == OV_STATUS_OK) {
            EXPECT(valid, "invalid add accepted");
            EXPECT(!is_live(id), "fresh id");
            model_add(id);
        } else EXPECT(!valid || s == OV_STATUS_RESOURCE_EXHAUSTION || s == OV_STATUS_CIRCUIT_OPEN, "valid add rejected");
        break;
    }
    case 3: { /* add_with */
        static const char *opts[] = {NULL, "{}", "{\"weight\": 2}", "{\"created_at\": 1600000000000}",
                                     "{\"metadata\": {\"a\": 1}}", "{\"created_at\": -1}", "{\"weight\": 0}",
                                     "{\"bogus\": true}", "[]", "{\"metadata\": 3}"};
        unsigned k = pick(10);
        const char *t = random_text(&tok);
        uint64_t id = 0;
        s = ov_memory_add_with(m, v, DIM, t, opts[k], &id);
        expect_status(s, "add_with");
        if (s == OV_STATUS_OK) {
            EXPECT(vok && tok && k < 5, "invalid add_with accepted");
            model_add(id);
        }
        break;
    }
    case 4: { /* add_batch */
        size_t count = pick(4);
        float flat[4 * DIM];
        int all_ok = 1;
        for (size_t i = 0; i < count; i++) all_ok &= random_vector(flat + i * DIM);
        const char *texts[4];
        for (size_t i = 0; i < count; i++) {
            texts[i] = random_text(&tok);
            all_ok &= tok;
        }
        uint64_t ids[4];
        s = ov_memory_add_batch(m, count ? flat : NULL, count, DIM, count ? texts : NULL, NULL, NULL, ids);
        expect_status(s, "add_batch");
        if (s == OV_STATUS_OK) {
            EXPECT(all_ok && count > 0, "invalid batch accepted");
            for (size_t i = 0; i < count; i++) model_add(ids[i]);
        }
        break;
    }
    case 5: case 6: { /* delete: live or not */
        uint64_t id = nlive && pick(3) ? live[pick((unsigned)nlive)] : rnd() % 100000;
        int was = is_live(id);
        s = ov_memory_delete(m, id);
        expect_status(s, "delete");
        if (s == OV_STATUS_OK) {
            EXPECT(was, "deleted a dead id");
            model_del(id);
        } else EXPECT(!was || s == OV_STATUS_CIRCUIT_OPEN, "live id not deleted");
        break;
    }
    case 7: { /* get */
        uint64_t id = nlive && pick(2) ? live[pick((unsigned)nlive)] : rnd() % 100000;
        OvMemoryRecord *r = NULL;
        s = ov_memory_get(m, id, pick(20) ? &r : NULL);
        expect_status(s, "get");
        if (s == OV_STATUS_OK) {
            EXPECT(is_live(id) && r && r->id == id && r->embedding_len == DIM, "get");
            ov_memory_record_free(r);
        }
        break;
    }
    case 8: case 9: { /* retrieve */
        size_t top_k = pick(12), capacity = pick(12);
        double alpha = pick(10) == 0 ? (pick(2) ? NAN : 1.5) : (double)pick(101) / 100.0;
        uint64_t ids[16];
        double scores[16];
        size_t n = 99;
        s = ov_memory_retrieve(m, v, DIM, top_k, alpha, ids, scores, capacity, &n);
        expect_status(s, "retrieve");
        if (s == OV_STATUS_OK) {
            EXPECT(vok && top_k >= 1 && capacity >= top_k && alpha >= 0 && alpha <= 1, "invalid retrieve accepted");
            EXPECT(n <= top_k && n <= nlive, "retrieve count");
            check_ids(ids, n, "retrieved id is live");
            for (size_t i = 0; i < n; i++) EXPECT(!isnan(scores[i]), "score is a number");
        }
        break;
    }
    case 10: { /* retrieve_json */
        const char *o = random_options(&ook);
        int with = pick(5) != 0;
        int text_only = pick(4) == 0; /* NULL query: only options with a text can succeed */
        char *j = ov_memory_retrieve_json(m, text_only ? NULL : v, text_only ? 0 : DIM, with ? o : NULL);
        expect_status(ov_last_error_code(), "retrieve_json");
        EXPECT(!j || ((text_only || vok) && (ook || !with) && (!text_only || (with && strstr(o, "text")))),
               "invalid retrieve_json accepted");
        if (j) check_json_ids(j, NULL, "retrieve_json id is live");
        ov_string_free(j);
        break;
    }
    case 11: { /* context */
        const char *o = random_options(&ook);
        int with = pick(3) == 0;
        size_t budget = pick(10) == 0 ? 0 : 1 + pick(400);
        char *j = pick(2) ? ov_memory_context_json(m, v, DIM, budget, with ? o : NULL)
                          : ov_memory_context_with_counter(m, v, DIM, budget, with ? o : NULL,
                                                           pick(3) ? count_bytes : failing_counter, NULL);
        expect_status(ov_last_error_code(), "context");
        EXPECT(!j || (vok && budget > 0 && (ook || !with)), "invalid context accepted");
        if (j) check_json_ids(j, "items", "context id is live");
        ov_string_free(j);
        break;
    }
    case 12: { /* hubs */
        uint64_t ids[8];
        size_t n = 0;
        s = ov_memory_hubs(m, ids, pick(9), &n);
        expect_status(s, "hubs");
        if (s == OV_STATUS_OK) check_ids(ids, n, "hub is live");
        break;
    }
    case 13: { /* snapshot bytes: round trip, or corrupted */
        uint8_t *bytes = NULL;
        size_t len = 0;
        s = ov_memory_to_bytes(m, &bytes, &len);
        expect_status(s, "to_bytes");
        if (s != OV_STATUS_OK) break;
        size_t orig = len;
        int corrupt = pick(2);
        if (corrupt) {
            if (pick(2)) bytes[pick((unsigned)len)] ^= (uint8_t)(1 + pick(255));
            else len = pick((unsigned)len);
        }
        s = ov_memory_load_bytes(m, bytes, len);
        expect_status(s, "load_bytes");
        if (corrupt) EXPECT(s != OV_STATUS_OK, "corrupt bytes loaded");
        else EXPECT(s == OV_STATUS_OK || s == OV_STATUS_CIRCUIT_OPEN, "round trip");
        if (!corrupt && s == OV_STATUS_OK) EXPECT(ov_memory_count(m) == before, "a round trip keeps every memory");
        OVMemoryProduction *copy = pick(2) ? ov_memory_from_bytes(bytes, len)
                                           : ov_memory_from_bytes_with_config(bytes, len, pick(2) ? NULL : config);
        EXPECT(corrupt ? copy == NULL : copy != NULL, "from_bytes");
        if (copy) EXPECT(ov_memory_count(copy) == before, "copy holds every memory");
        ov_memory_destroy(copy);
        ov_bytes_free(bytes, orig);
        break;
    }
    case 14: { /* files */
        int load = pick(2);
        s = load ? ov_memory_load(m, pick(4) ? path : "/nonexistent/ov.snap") : ov_memory_save(m, path);
        expect_status(s, "save/load");
        reloaded = load && s == OV_STATUS_OK;
        break;
    }
    case 15: /* metabolism */
        s = pick(3) ? ov_memory_metabolism_resize(m, pick(4) == 0 ? 0 : 1 + pick(100000)) : ov_memory_metabolism_reset(m);
        expect_status(s, "metabolism");
        ov_string_free(ov_memory_metabolism_json(m));
        break;
    case 16: /* log settings: never a console sink, the fuzzer would flood it */
        s = ov_memory_set_log_level(m, pick(7));
        expect_status(s, "set_log_level");
        s = ov_memory_set_log_sink(m, pick(2) ? 0 : 3 + pick(5));
        expect_status(s, "set_log_sink");
        break;
    case 17: /* breaker */
        s = ov_memory_reset_breaker(m);
        EXPECT(s == OV_STATUS_OK, "reset_breaker");
        break;
    case 18: { /* last error readers with small buffers */
        char small[8];
        (void)ov_last_error_message(small, pick(8));
        (void)ov_last_error_context(small, pick(8));
        (void)ov_status_name(pick(12));
        break;
    }
    case 19: { /* metrics and Prometheus */
        char *j = ov_memory_metrics_json(m);
        EXPECT(j != NULL, "metrics");
        cJSON *doc = j ? cJSON_Parse(j) : NULL;
        const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(doc, "node_count");
        EXPECT(cJSON_IsNumber(nodes) && (size_t)nodes->valuedouble == before, "node_count = count");
        cJSON_Delete(doc);
        ov_string_free(j);
        ov_string_free(ov_memory_prometheus(m));
        ov_string_free(ov_memory_openmetrics(m));
        break;
    }
    case 20: { /* NULL and misuse of every pointer */
        uint64_t id;
        size_t n;
        EXPECT(ov_memory_add_f32(NULL, v, DIM, "x", 1, NULL, &id) == OV_STATUS_INVALID_DATA, "NULL store");
        EXPECT(ov_memory_add_f32(m, NULL, DIM, "x", 1, NULL, &id) == OV_STATUS_INVALID_DATA, "NULL vector");
        EXPECT(ov_memory_add_f32(m, v, DIM, NULL, 1, NULL, &id) == OV_STATUS_INVALID_DATA, "NULL text");
        EXPECT(ov_memory_add_f32(m, v, DIM, "x", 1, NULL, NULL) == OV_STATUS_INVALID_DATA, "NULL id_out");
        EXPECT(ov_memory_retrieve(m, v, DIM, 1, 0.5, NULL, NULL, 1, NULL) == OV_STATUS_INVALID_DATA, "NULL count");
        EXPECT(ov_memory_retrieve(m, v, (size_t)pick(1000) + DIM + 1, 1, 0.5, NULL, NULL, 1, &n) ==
                   OV_STATUS_INVALID_DATA, "long length is checked before reading");
        EXPECT(ov_memory_get_health(NULL, NULL, 0) == 0, "NULL health");
        ov_memory_destroy(NULL);
        ov_string_free(NULL);
        ov_memory_record_free(NULL);
        break;
    }
    case 21: { /* add_with in a namespace, with a key (an upsert keeps the id), or a far expiry */
        static const char *opts[] = {"{\"namespace\": \"a\", \"key\": \"k0\"}", "{\"namespace\": \"b\", \"key\": \"k0\"}",
                                     "{\"namespace\": \"a\", \"key\": \"k1\", \"metadata\": {\"n\": 2}}",
                                     "{\"namespace\": \"b\", \"expires_at\": 4102444800000}",
                                     "{\"namespace\": \"a\", \"key\": \"\"}", "{\"namespace\": 3}",
                                     "{\"expires_at\": 1}", "{\"ttl_ms\": 0}"};
        unsigned k = pick(8);
        const char *t = random_text(&tok);
        uint64_t id = 0;
        s = ov_memory_add_with(m, v, DIM, t, opts[k], &id);
        expect_status(s, "add_with namespace");
        if (s == OV_STATUS_OK) {
            EXPECT(vok && tok && k < 4, "invalid add_with accepted");
            if (!is_live(id)) model_add(id);
        }
        break;
    }
    case 22: { /* update: a live or an unknown id, good or bad changes */
        static const char *patches[] = {"{\"text\": \"changed\"}", "{\"weight\": 3, \"metadata\": null}",
                                        "{\"metadata\": {\"n\": 1}}", NULL, "{}", "{\"weight\": -1}",
                                        "{\"text\": \"\"}", "{\"expires_at\": 5}", "{\"nope\": 1}"};
        uint64_t id = nlive && pick(4) ? live[pick((unsigned)nlive)] : rnd() % 100000;
        unsigned k = pick(9);
        int with_vector = pick(2);
        s = ov_memory_update(m, id, with_vector ? v : NULL, with_vector ? DIM : 0, patches[k]);
        expect_status(s, "update");
        if (s == OV_STATUS_OK)
            EXPECT(is_live(id) && (with_vector ? vok && k < 5 : k < 3), "invalid update accepted");
        break;
    }
    case 23: { /* list, count, get_many: every id live */
        static const char *opts[] = {NULL, "{\"namespace\": [\"\", \"a\", \"b\"], \"limit\": 7}",
                                     "{\"namespace\": \"a\", \"filter\": {\"n\": {\"$gte\": 1}}}",
                                     "{\"filter\": {\"$bad\": 1}}", "{\"limit\": 0}"};
        unsigned k = pick(5);
        char *j = ov_memory_list_json(m, opts[k]);
        expect_status(ov_last_error_code(), "list");
        EXPECT(!j == (k >= 3), "list");
        if (j) check_json_ids(j, "memories", "listed id is live");
        ov_string_free(j);
        size_t n = 0;
        static const char *scopes[] = {NULL, "{\"namespace\": [\"\", \"a\", \"b\"]}",
                                       "{\"namespace\": \"a\", \"filter\": {\"n\": {\"$gte\": 1}}}"};
        s = ov_memory_count_with(m, scopes[pick(3)], &n);
        EXPECT(s == OV_STATUS_OK && n <= before, "count_with");
        uint64_t ids[3] = {nlive ? live[pick((unsigned)nlive)] : 1, rnd() % 100000, 0};
        j = ov_memory_get_many_json(m, ids, pick(4));
        EXPECT(j != NULL, "get_many");
        ov_string_free(j);
        break;
    }
    case 24: { /* delete_many and delete_namespace */
        if (pick(3)) {
            uint64_t ids[4];
            size_t n = pick(5), distinct_live = 0, deleted = 99;
            for (size_t i = 0; i < n; i++) ids[i] = nlive && pick(2) ? live[pick((unsigned)nlive)] : rnd() % 100000;
            for (size_t i = 0; i < n; i++) {
                int seen = 0;
                for (size_t j = 0; j < i; j++) seen |= ids[j] == ids[i];
                distinct_live += !seen && is_live(ids[i]);
            }
            s = ov_memory_delete_many(m, n ? ids : NULL, n, &deleted);
            expect_status(s, "delete_many");
            if (s == OV_STATUS_OK) {
                EXPECT(deleted == distinct_live, "delete_many count");
                for (size_t i = 0; i < n; i++) model_del(ids[i]);
            }
        } else {
            size_t deleted = 0;
            s = ov_memory_delete_namespace(m, pick(2) ? "a" : "b", &deleted);
            expect_status(s, "delete_namespace");
            reloaded = s == OV_STATUS_OK; /* the model does not know namespaces: rebuild it */
        }
        break;
    }
    case 25: { /* export, then import into a copy (same count) or import bad text here (nothing changes) */
        char *j = ov_memory_export_jsonl(m, pick(2) ? NULL : "{\"namespace\": \"a\"}");
        EXPECT(j != NULL, "export");
        if (!j) break;
        if (pick(2)) {
            OVMemoryProduction *copy = ov_memory_create_with_config(
                "{\"embedding_dim\": 6, \"max_nodes\": 300, \"max_degree\": 3}");
            size_t imported = 0;
            s = ov_memory_import_jsonl(copy, j, NULL, &imported, NULL);
            EXPECT(s == OV_STATUS_OK, "exported text imports");
            ov_memory_destroy(copy);
        } else {
            size_t len = strlen(j);
            if (len) j[pick((unsigned)len)] = (char)(pick(2) ? '{' : 'x');
            s = ov_memory_import_jsonl(m, j, pick(2) ? NULL : "{\"keep_ids\": false}", NULL, NULL);
            expect_status(s, "import");
            /* Changing one character may keep it valid (an id, a digit); any import then adds or fails. */
            if (s == OV_STATUS_OK) reloaded = 1;
        }
        ov_string_free(j);
        break;
    }
    case 26: { /* retrieve_many */
        float flat[3 * DIM];
        for (int q = 0; q < 3; q++) memcpy(flat + q * DIM, v, sizeof v);
        const char *texts[3] = {"tea", NULL, "cats"};
        int with_texts = pick(2);
        char *j = ov_memory_retrieve_many_json(m, pick(4) ? flat : NULL, with_texts ? texts : NULL, pick(4),
                                               pick(2) ? NULL : "{\"top_k\": 3, \"namespace\": [\"\", \"a\"]}");
        expect_status(ov_last_error_code(), "retrieve_many");
        if (j) {
            cJSON *doc = cJSON_Parse(j);
            const cJSON *hits;
            cJSON_ArrayForEach(hits, doc) {
                char *one = cJSON_PrintUnformatted(hits);
                check_json_ids(one, NULL, "retrieve_many id is live");
                free(one);
            }
            cJSON_Delete(doc);
        }
        ov_string_free(j);
        break;
    }
    default: /* health: never blocked */
        check_health(m);
        break;
    }
    /* A failed call changes nothing; a successful one changes what the model says. */
    size_t after = ov_memory_count(m);
    if (reloaded) {
        /* The contents were replaced or changed in ways the model does not follow (a snapshot
         * file, a deleted namespace, an import): rebuild it from a listing of every namespace. */
        reloaded = 0;
        nlive = 0;
        char *names = ov_memory_namespaces_json(m);
        cJSON *counts = names ? cJSON_Parse(names) : NULL, *o = cJSON_CreateObject();
        cJSON *list = cJSON_AddArrayToObject(o, "namespace");
        cJSON_AddItemToArray(list, cJSON_CreateString(""));
        const cJSON *ns;
        cJSON_ArrayForEach(ns, counts) cJSON_AddItemToArray(list, cJSON_CreateString(ns->string));
        cJSON_AddNumberToObject(o, "limit", 10000);
        char *opts = cJSON_PrintUnformatted(o);
        char *j = ov_memory_list_json(m, opts);
        free(opts);
        cJSON_Delete(o);
        cJSON_Delete(counts);
        ov_string_free(names);
        cJSON *page = j ? cJSON_Parse(j) : NULL;
        const cJSON *mem;
        cJSON_ArrayForEach(mem, cJSON_GetObjectItemCaseSensitive(page, "memories"))
            model_add((uint64_t)cJSON_GetObjectItemCaseSensitive(mem, "id")->valuedouble);
        cJSON_Delete(page);
        ov_string_free(j);
        EXPECT(nlive == after, "the loaded ids are all found");
    }
    EXPECT(after == nlive, "count = adds - deletes");
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    seed = argc > 2 ? strtoul(argv[2], NULL, 10) : (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
    rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed * 0x2545F4914F6CDD1Dull);
    if (rng == 0) rng = 1;
    char path[] = "/tmp/ov-fuzz-calls-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long stores = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds || failures > 20) break;
        /* A fresh store every few thousand calls, with a short breaker so it
         * recovers, storing its vectors at each precision in turn. */
        static const char *precisions[] = {"f32", "f16", "i8"};
        snprintf(config, sizeof config,
                 "{\"embedding_dim\": 6, \"max_nodes\": 300, \"max_degree\": 3, \"breaker\": {\"open_ms\": 5}, "
                 "\"vector_precision\": \"%s\"}",
                 precisions[stores % 3]);
        OVMemoryProduction *m = ov_memory_create_with_config(config);
        if (!m) return 2;
        stores++;
        nlive = 0;
        for (int i = 0; i < 3000 && failures <= 20; i++, step++) one_call(m, path);
        check_health(m);
        ov_memory_destroy(m);
    }
    unlink(path);
    printf("fuzz_calls: seed %lu, %lu calls on %lu stores in %.0f s\n", seed, step, stores, seconds);
    printf("fuzz_calls: %d passed, %d failed\n", failures == 0 ? 1 : 0, failures == 0 ? 0 : 1);
    return failures == 0 ? 0 : 1;
}
