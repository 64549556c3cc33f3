/* Retrieve and context over the coding QA set through the C API; the ids must
 * equal tests/qa/coding_expected.json, which the Rust test checks too.
 * Usage: test_qa tests/data/qa_coding.jsonl tests/qa/coding_expected.json */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ov_memory.h"
#include "test_util.h"

#define DIM 384
#define MAX_RECORDS 128

static int passed = 0, failed = 0;

static void check(int ok, const char *what, const char *id) {
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s: %s\n", id, what);
    }
}

static void to_floats(const cJSON *arr, float *out) {
    for (int i = 0; i < DIM; i++) out[i] = (float)cJSON_GetArrayItem(arr, i)->valuedouble;
}

static void add_record(OVMemoryProduction *m, const cJSON *rec) {
    float v[DIM];
    const cJSON *truth = cJSON_GetObjectItemCaseSensitive(rec, "truth");
    const cJSON *items[3] = {truth, NULL, NULL};
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(rec, "distractors");
    items[1] = cJSON_GetArrayItem(d, 0);
    items[2] = cJSON_GetArrayItem(d, 1);
    for (int i = 0; i < 3; i++) {
        to_floats(cJSON_GetObjectItemCaseSensitive(items[i], "embedding"), v);
        double w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(items[i], "metadata"), "weight")
                       ->valuedouble;
        uint64_t id;
        if (ov_memory_add_f32(m, v, DIM, cJSON_GetObjectItemCaseSensitive(items[i], "text")->valuestring, w, NULL,
                              &id) != OV_STATUS_OK) {
            fprintf(stderr, "add failed\n");
            exit(2);
        }
    }
}

static OVMemoryProduction *build(cJSON **records, int n) {
    OVMemoryProduction *m = ov_memory_create(DIM, 10000, 1);
    for (int i = 0; i < n; i++) add_record(m, records[i]);
    return m;
}

static int same_ids(const cJSON *want, const uint64_t *got, size_t n) {
    if ((size_t)cJSON_GetArraySize(want) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if ((uint64_t)cJSON_GetArrayItem(want, (int)i)->valuedouble != got[i]) return 0;
    return 1;
}

int main(int argc, char **argv) {
    const char *data = argc > 1 ? argv[1] : "tests/data/qa_coding.jsonl";
    const char *expected = argc > 2 ? argv[2] : "tests/qa/coding_expected.json";
    char *text = read_file(data);
    char *exp_text = read_file(expected);
    if (!text || !exp_text) {
        fprintf(stderr, "cannot read %s or %s\n", data, expected);
        return 2;
    }
    cJSON *records[MAX_RECORDS];
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < MAX_RECORDS; line = strtok(NULL, "\n")) {
        records[n] = cJSON_Parse(line);
        if (records[n]) n++;
    }
    cJSON *exp = cJSON_Parse(exp_text);
    const cJSON *queries = cJSON_GetObjectItemCaseSensitive(exp, "queries");
    check(cJSON_GetArraySize(queries) == n && n == 53, "record count", "all");

    OVMemoryProduction *m = build(records, n);
    for (int i = 0; i < n; i++) {
        const cJSON *q = cJSON_GetArrayItem(queries, i);
        const char *qid = cJSON_GetObjectItemCaseSensitive(q, "id")->valuestring;
        check(strcmp(qid, cJSON_GetObjectItemCaseSensitive(records[i], "id")->valuestring) == 0, "order", qid);
        float query[DIM];
        to_floats(cJSON_GetObjectItemCaseSensitive(records[i], "query_embedding"), query);

        uint64_t ids[3];
        double scores[3];
        size_t count = 0;
        check(ov_memory_retrieve(m, query, DIM, 3, OV_DEFAULT_ALPHA, ids, scores, 3, &count) == OV_STATUS_OK,
              "retrieve", qid);
        check(same_ids(cJSON_GetObjectItemCaseSensitive(q, "retrieve"), ids, count), "retrieve ids", qid);

        OVMemoryProduction *fresh = build(records, n);
        char *ctx = ov_memory_context_json(fresh, query, DIM, 96, NULL);
        check(ctx != NULL, "context", qid);
        cJSON *result = ctx ? cJSON_Parse(ctx) : NULL;
        uint64_t got[64];
        size_t k = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(result, "items")) {
            if (k < 64) got[k++] = (uint64_t)cJSON_GetObjectItemCaseSensitive(item, "id")->valuedouble;
        }
        check(same_ids(cJSON_GetObjectItemCaseSensitive(q, "context"), got, k), "context ids", qid);
        const cJSON *used = cJSON_GetObjectItemCaseSensitive(result, "tokens_used");
        check(used && used->valuedouble <= 96, "tokens_used <= 96", qid);
        cJSON_Delete(result);
        ov_string_free(ctx);
        ov_memory_destroy(fresh);
    }
    /* A snapshot for the Node and wasm tests, with the results they must reproduce.
     * Scores are taken as of a fixed time one day after this run (`now`), so the
     * comparison does not depend on how much time passes before the JS tests run. */
    if (argc > 4) {
        check(ov_memory_save(m, argv[3]) == OV_STATUS_OK, "save", "snapshot");
        FILE *out = fopen(argv[4], "w");
        check(out != NULL, "open expected file", argv[4]);
        if (out) {
            long long now = (long long)time(NULL) * 1000 + 86400000LL;
            char options[128];
            snprintf(options, sizeof options, "{\"top_k\": 3, \"now\": %lld}", now);
            fprintf(out, "{\"now\": %lld, \"results\": [\n", now);
            for (int i = 0; i < n; i++) {
                float query[DIM];
                to_floats(cJSON_GetObjectItemCaseSensitive(records[i], "query_embedding"), query);
                char *hits = ov_memory_retrieve_json(m, query, DIM, options);
                check(hits != NULL, "retrieve_json", "snapshot");
                fprintf(out, "%s%s\n", hits ? hits : "[]", i + 1 < n ? "," : "");
                ov_string_free(hits);
            }
            fputs("]}\n", out);
            fclose(out);
        }
    }
    ov_memory_destroy(m);
    for (int i = 0; i < n; i++) cJSON_Delete(records[i]);
    cJSON_Delete(exp);
    free(text);
    free(exp_text);
    printf("c-qa: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
