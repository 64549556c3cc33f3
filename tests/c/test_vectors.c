#define _POSIX_C_SOURCE 200809L
/* Runs the shared test vectors (tests/vectors, every .json file) against the C API; the
 * Rust, Node and wasm runners read the same files. Usage: test_vectors DIR */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ov_memory.h"
#include "test_util.h"

static int passed = 0, failed = 0;

static void check(int ok, const char *file, int step, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s step %d: %s\n", file, step, what);
    }
}

static double num(const cJSON *v) {
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "NaN") == 0) return NAN;
        if (strcmp(v->valuestring, "Infinity") == 0) return INFINITY;
        if (strcmp(v->valuestring, "-Infinity") == 0) return -INFINITY;
    }
    fprintf(stderr, "bad number in vector\n");
    exit(2);
}

/* Expected error name, or NULL when the step must succeed. */
static const char *expected_error(const cJSON *expect) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(expect, "error");
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

static void check_status(OvStatus got, const cJSON *expect, const char *file, int step) {
    const char *want = expected_error(expect);
    char what[256];
    snprintf(what, sizeof what, "status %s, expected %s", ov_status_name(got), want ? want : "OK");
    check(want ? strcmp(ov_status_name(got), want) == 0 : got == OV_STATUS_OK, file, step, what);
}

/* Compares every expected key (but "error") with the step's result object; takes `got`. */
static void check_result(cJSON *got, const cJSON *expect, const char *file, int i) {
    const cJSON *want;
    cJSON_ArrayForEach(want, expect) {
        if (strcmp(want->string, "error") == 0) continue;
        const cJSON *have = cJSON_GetObjectItemCaseSensitive(got, want->string);
        char what[128];
        snprintf(what, sizeof what, "field %s", want->string);
        check(have != NULL && cJSON_Compare(have, want, 1), file, i, what);
    }
    cJSON_Delete(got);
}

/* A JSON value of the step as compact text (NULL if absent); free with free(). */
static char *field_json(const cJSON *step, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(step, name);
    return v ? cJSON_PrintUnformatted(v) : NULL;
}

/* The floats of a JSON array (NULL for none), their count in *n. */
static float *floats(const cJSON *arr, size_t *n) {
    *n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    if (*n == 0) return NULL;
    float *v = malloc(sizeof(float) * *n);
    for (size_t k = 0; k < *n; k++) v[k] = (float)num(cJSON_GetArrayItem(arr, (int)k));
    return v;
}

/* The ids of a JSON array. */
static uint64_t *ids_of(const cJSON *arr, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(arr);
    uint64_t *ids = malloc(sizeof(uint64_t) * (*n > 0 ? *n : 1));
    for (size_t k = 0; k < *n; k++) ids[k] = (uint64_t)cJSON_GetArrayItem(arr, (int)k)->valuedouble;
    return ids;
}

/* The operations of managing memories; returns 0 for an unknown op. */
static int run_manage_step(OVMemoryProduction *m, const char *op, const cJSON *step, const cJSON *expect,
                           const char *file, int i) {
    cJSON *got = cJSON_CreateObject();
    OvStatus s = OV_STATUS_OK;
    char *opts = field_json(step, "options");
    if (strcmp(op, "add_with") == 0) {
        size_t n;
        float *v = floats(cJSON_GetObjectItemCaseSensitive(step, "embedding"), &n);
        uint64_t id = 0;
        s = ov_memory_add_with(m, v, n, cJSON_GetObjectItemCaseSensitive(step, "text")->valuestring, opts, &id);
        cJSON_AddNumberToObject(got, "id", (double)id);
        free(v);
    } else if (strcmp(op, "add_batch_with") == 0) {
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(step, "embeddings");
        const cJSON *texts = cJSON_GetObjectItemCaseSensitive(step, "texts");
        size_t count = (size_t)cJSON_GetArraySize(texts), dim = 0, total = 0, cap = 0;
        const cJSON *row;
        cJSON_ArrayForEach(row, rows) cap += (size_t)cJSON_GetArraySize(row);
        float *flat = malloc(sizeof(float) * (cap + 1));
        cJSON_ArrayForEach(row, rows) {
            size_t n;
            float *v = floats(row, &n);
            if (v) memcpy(flat + total, v, n * sizeof(float));
            total += n;
            dim = n;
            free(v);
        }
        const char **t = malloc(sizeof(char *) * (count + 1));
        for (size_t k = 0; k < count; k++) t[k] = cJSON_GetArrayItem(texts, (int)k)->valuestring;
        uint64_t *ids = calloc(count + 1, sizeof(uint64_t));
        s = ov_memory_add_batch_with(m, flat, count, dim, t, NULL, NULL, opts, ids);
        cJSON *arr = cJSON_AddArrayToObject(got, "ids");
        for (size_t k = 0; k < count; k++) cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)ids[k]));
        free(ids);
        free(t);
        free(flat);
    } else if (strcmp(op, "update") == 0) {
        size_t n;
        float *v = floats(cJSON_GetObjectItemCaseSensitive(step, "embedding"), &n);
        char *patch = field_json(step, "patch");
        s = ov_memory_update(m, (uint64_t)cJSON_GetObjectItemCaseSensitive(step, "id")->valuedouble, v, n, patch);
        free(patch);
        free(v);
    } else if (strcmp(op, "list") == 0) {
        char *out = ov_memory_list_json(m, opts);
        s = out ? OV_STATUS_OK : ov_last_error_code();
        if (out) {
            cJSON *page = cJSON_Parse(out);
            cJSON *arr = cJSON_AddArrayToObject(got, "ids");
            const cJSON *mem;
            cJSON_ArrayForEach(mem, cJSON_GetObjectItemCaseSensitive(page, "memories"))
                cJSON_AddItemToArray(arr, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(mem, "id"), 1));
            cJSON_AddItemToObject(got, "next_after_id",
                                  cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(page, "next_after_id"), 1));
            cJSON_Delete(page);
            ov_string_free(out);
        }
    } else if (strcmp(op, "count_with") == 0) {
        size_t n = 0;
        s = ov_memory_count_with(m, opts, &n);
        cJSON_AddNumberToObject(got, "count", (double)n);
    } else if (strcmp(op, "get_many") == 0) {
        size_t n;
        uint64_t *ids = ids_of(cJSON_GetObjectItemCaseSensitive(step, "ids"), &n);
        char *out = ov_memory_get_many_json(m, ids, n);
        s = out ? OV_STATUS_OK : ov_last_error_code();
        if (out) {
            cJSON *all = cJSON_Parse(out);
            const char *keys[][2] = {{"ids", "id"},         {"texts", "text"}, {"namespaces", "namespace"},
                                     {"keys", "key"},       {"weights", "weight"}, {"expires_at", "expires_at"}};
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
                cJSON *col = cJSON_AddArrayToObject(got, keys[k][0]);
                const cJSON *mem;
                cJSON_ArrayForEach(mem, all) {
                    const cJSON *v = cJSON_IsNull(mem) ? NULL : cJSON_GetObjectItemCaseSensitive(mem, keys[k][1]);
                    cJSON_AddItemToArray(col, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
                }
            }
            cJSON_Delete(all);
            ov_string_free(out);
        }
        free(ids);
    } else if (strcmp(op, "delete_many") == 0) {
        size_t n, deleted = 0;
        uint64_t *ids = ids_of(cJSON_GetObjectItemCaseSensitive(step, "ids"), &n);
        s = ov_memory_delete_many(m, ids, n, &deleted);
        cJSON_AddNumberToObject(got, "deleted", (double)deleted);
        free(ids);
    } else if (strcmp(op, "delete_namespace") == 0) {
        size_t deleted = 0;
        s = ov_memory_delete_namespace(m, cJSON_GetObjectItemCaseSensitive(step, "namespace")->valuestring, &deleted);
        cJSON_AddNumberToObject(got, "deleted", (double)deleted);
    } else if (strcmp(op, "sweep") == 0) {
        size_t removed = 0;
        s = ov_memory_sweep(m, &removed);
        cJSON_AddNumberToObject(got, "removed", (double)removed);
    } else if (strcmp(op, "namespaces") == 0) {
        char *out = ov_memory_namespaces_json(m);
        s = out ? OV_STATUS_OK : ov_last_error_code();
        if (out) {
            cJSON_AddItemToObject(got, "namespaces", cJSON_Parse(out));
            ov_string_free(out);
        }
    } else if (strcmp(op, "export") == 0) {
        char *out = ov_memory_export_jsonl(m, opts);
        s = out ? OV_STATUS_OK : ov_last_error_code();
        if (out) {
            cJSON *arr = cJSON_AddArrayToObject(got, "ids");
            for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
                cJSON *rec = cJSON_Parse(line);
                cJSON_AddItemToArray(arr, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(rec, "id"), 1));
                cJSON_Delete(rec);
            }
            ov_string_free(out);
        }
    } else if (strcmp(op, "import") == 0) {
        size_t imported = 0, expired = 0;
        s = ov_memory_import_jsonl(m, cJSON_GetObjectItemCaseSensitive(step, "jsonl")->valuestring, opts, &imported,
                                   &expired);
        cJSON_AddNumberToObject(got, "imported", (double)imported);
        cJSON_AddNumberToObject(got, "expired", (double)expired);
    } else if (strcmp(op, "retrieve_many") == 0) {
        /* The C call takes a vector for every query or for none. */
        const cJSON *queries = cJSON_GetObjectItemCaseSensitive(step, "queries");
        size_t count = (size_t)cJSON_GetArraySize(queries), total = 0;
        float *flat = NULL;
        const char **texts = calloc(count + 1, sizeof(char *));
        int any_text = 0;
        for (size_t k = 0; k < count; k++) {
            const cJSON *q = cJSON_GetArrayItem(queries, (int)k);
            size_t n;
            float *v = floats(cJSON_GetObjectItemCaseSensitive(q, "embedding"), &n);
            if (v) {
                flat = realloc(flat, sizeof(float) * (total + n));
                memcpy(flat + total, v, n * sizeof(float));
                total += n;
                free(v);
            }
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(q, "text");
            if (cJSON_IsString(t)) {
                texts[k] = t->valuestring;
                any_text = 1;
            }
        }
        char *out = ov_memory_retrieve_many_json(m, flat, any_text ? texts : NULL, count, opts);
        s = out ? OV_STATUS_OK : ov_last_error_code();
        if (out) {
            cJSON *all = cJSON_Parse(out);
            cJSON *arr = cJSON_AddArrayToObject(got, "ids");
            const cJSON *hits;
            cJSON_ArrayForEach(hits, all) {
                cJSON *row = cJSON_CreateArray();
                const cJSON *h;
                cJSON_ArrayForEach(h, hits)
                    cJSON_AddItemToArray(row, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(h, "id"), 1));
                cJSON_AddItemToArray(arr, row);
            }
            cJSON_Delete(all);
            ov_string_free(out);
        }
        free(texts);
        free(flat);
    } else {
        free(opts);
        cJSON_Delete(got);
        return 0;
    }
    free(opts);
    check_status(s, expect, file, i);
    if (s == OV_STATUS_OK) {
        check_result(got, expect, file, i);
    } else {
        cJSON_Delete(got);
    }
    return 1;
}

static void run_step(OVMemoryProduction *m, const cJSON *step, const char *file, int i) {
    const char *op = cJSON_GetObjectItemCaseSensitive(step, "op")->valuestring;
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
    const cJSON *id_item = cJSON_GetObjectItemCaseSensitive(step, "id");
    uint64_t id = id_item ? (uint64_t)id_item->valuedouble : 0;
    if (strcmp(op, "add") == 0) {
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(step, "embedding");
        int n = cJSON_GetArraySize(emb);
        float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        for (int k = 0; k < n; k++) v[k] = (float)num(cJSON_GetArrayItem(emb, k));
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(step, "weight");
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(step, "metadata");
        char *meta_json = meta ? cJSON_PrintUnformatted(meta) : NULL;
        uint64_t got = 0;
        const cJSON *created = cJSON_GetObjectItemCaseSensitive(step, "created_at");
        const char *text = cJSON_GetObjectItemCaseSensitive(step, "text")->valuestring;
        OvStatus s;
        if (created) {
            /* The options form: weight, metadata and created_at in one JSON object. */
            cJSON *o = cJSON_CreateObject();
            if (w) cJSON_AddNumberToObject(o, "weight", num(w));
            if (meta) cJSON_AddItemToObject(o, "metadata", cJSON_Duplicate(meta, 1));
            cJSON_AddNumberToObject(o, "created_at", created->valuedouble);
            char *opts = cJSON_PrintUnformatted(o);
            s = ov_memory_add_with(m, v, (size_t)n, text, opts, &got);
            free(opts);
            cJSON_Delete(o);
        } else {
            s = ov_memory_add_f32(m, v, (size_t)n, text, w ? num(w) : 1.0, meta_json, &got);
        }
        check_status(s, expect, file, i);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(expect, "id");
        if (want) check(got == (uint64_t)want->valuedouble, file, i, "id");
        free(meta_json);
        free(v);
    } else if (strcmp(op, "get") == 0) {
        OvMemoryRecord *r = NULL;
        OvStatus s = ov_memory_get(m, id, &r);
        check_status(s, expect, file, i);
        if (s == OV_STATUS_OK && r) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(expect, "text");
            if (t) check(strcmp(r->text, t->valuestring) == 0, file, i, "text");
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(expect, "weight");
            if (w) check(fabs(r->weight - num(w)) < 1e-12, file, i, "weight");
            const cJSON *created = cJSON_GetObjectItemCaseSensitive(expect, "created_at");
            if (created) check(r->created_at_ms == (int64_t)created->valuedouble, file, i, "created_at");
            const cJSON *meta = cJSON_GetObjectItemCaseSensitive(expect, "metadata");
            if (meta && cJSON_IsNull(meta)) check(r->metadata_json == NULL, file, i, "metadata null");
            if (meta && cJSON_IsObject(meta)) {
                cJSON *have = r->metadata_json ? cJSON_Parse(r->metadata_json) : NULL;
                check(have && cJSON_Compare(have, meta, 1), file, i, "metadata");
                cJSON_Delete(have);
            }
            const cJSON *emb = cJSON_GetObjectItemCaseSensitive(expect, "embedding");
            if (emb) {
                int ok = (size_t)cJSON_GetArraySize(emb) == r->embedding_len;
                for (size_t k = 0; ok && k < r->embedding_len; k++)
                    ok = fabs(r->embedding[k] - num(cJSON_GetArrayItem(emb, (int)k))) < 1e-6;
                check(ok, file, i, "embedding");
            }
            ov_memory_record_free(r);
        }
    } else if (strcmp(op, "retrieve") == 0 || strcmp(op, "context") == 0) {
        /* A query: an embedding (or null: text only) and an options object. */
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(step, "embedding");
        int n = cJSON_IsArray(emb) ? cJSON_GetArraySize(emb) : 0;
        float *v = n > 0 ? malloc(sizeof(float) * (size_t)n) : NULL;
        for (int k = 0; k < n; k++) v[k] = (float)num(cJSON_GetArrayItem(emb, k));
        const cJSON *options = cJSON_GetObjectItemCaseSensitive(step, "options");
        char *opts = cJSON_PrintUnformatted(options);
        char *out;
        if (op[0] == 'r') {
            out = ov_memory_retrieve_json(m, v, (size_t)n, opts);
        } else {
            const cJSON *mt = cJSON_GetObjectItemCaseSensitive(options, "max_tokens");
            out = ov_memory_context_json(m, v, (size_t)n, mt ? (size_t)mt->valuedouble : 2000, opts);
        }
        check_status(out ? OV_STATUS_OK : ov_last_error_code(), expect, file, i);
        if (out) {
            cJSON *doc = cJSON_Parse(out);
            const cJSON *hits = op[0] == 'r' ? doc : cJSON_GetObjectItemCaseSensitive(doc, "items");
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(expect, "ids");
            int same = cJSON_GetArraySize(hits) == cJSON_GetArraySize(want);
            for (int k = 0; same && k < cJSON_GetArraySize(want); k++)
                same = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(hits, k), "id")->valuedouble ==
                       cJSON_GetArrayItem(want, k)->valuedouble;
            check(same, file, i, "ids");
            const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(expect, "context");
            if (ctx) {
                const cJSON *got = cJSON_GetObjectItemCaseSensitive(doc, "context");
                check(cJSON_IsString(got) && strcmp(got->valuestring, ctx->valuestring) == 0, file, i, "context text");
            }
            cJSON_Delete(doc);
            ov_string_free(out);
        }
        free(opts);
        free(v);
    } else if (strcmp(op, "delete") == 0) {
        check_status(ov_memory_delete(m, id), expect, file, i);
    } else if (strcmp(op, "count") == 0) {
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(expect, "count");
        check(ov_memory_count(m) == (size_t)want->valuedouble, file, i, "count");
    } else if (!run_manage_step(m, op, step, expect, file, i)) {
        fprintf(stderr, "%s step %d: unknown op %s\n", file, i, op);
        failed++;
    }
}

static void run_file(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = read_file(path);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    if (!doc) {
        fprintf(stderr, "%s: cannot read or parse\n", path);
        failed++;
        free(text);
        return;
    }
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases");
    if (cases) {
        int i = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, cases) {
            char *cfg = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "config"));
            OVMemoryProduction *m = ov_memory_create_with_config(cfg);
            const cJSON *expect = cJSON_GetObjectItemCaseSensitive(c, "expect");
            check_status(m ? OV_STATUS_OK : ov_last_error_code(), expect, name, i++);
            ov_memory_destroy(m);
            free(cfg);
        }
    } else {
        char *cfg = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc, "config"));
        OVMemoryProduction *m = ov_memory_create_with_config(cfg);
        check(m != NULL, name, -1, "create");
        int i = 0;
        const cJSON *step;
        cJSON_ArrayForEach(step, cJSON_GetObjectItemCaseSensitive(doc, "steps")) {
            if (m) run_step(m, step, name, i);
            i++;
        }
        ov_memory_destroy(m);
        free(cfg);
    }
    cJSON_Delete(doc);
    free(text);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/vectors";
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 2;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        run_file(dir, names[i]);
        free(names[i]);
    }
    if (n < 4) failed++;
    printf("c-vectors: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
