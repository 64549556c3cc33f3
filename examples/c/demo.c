/* OV-Memory demo (C): a coding assistant's memory.
 *
 * Loads examples/data/demo.tsv (real all-MiniLM-L6-v2 embeddings of QA texts),
 * stores the memories, answers the demo questions, and prints the health report
 * and a few metrics. Usage: demo [path/to/demo.tsv] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ov_memory.h"

#define DIM 384
#define MAX_QUERIES 8

struct query {
    char *text;
    float vec[DIM];
};

static int parse_vec(char *s, float *out) {
    for (int i = 0; i < DIM; i++) {
        char *end;
        out[i] = strtof(s, &end);
        if (end == s) return -1;
        s = end;
    }
    return 0;
}

static void fail(const char *what) {
    char msg[512];
    ov_last_error_message(msg, sizeof msg);
    fprintf(stderr, "%s failed: %s\n", what, msg);
    exit(1);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "examples/data/demo.tsv";
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    OVMemoryProduction *m = ov_memory_create_with_config("{\"embedding_dim\": 384, \"max_nodes\": 1000}");
    if (!m) fail("create");

    struct query queries[MAX_QUERIES];
    int nq = 0;
    char *line = NULL;
    size_t cap = 0;
    float vec[DIM];
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '#') continue;
        char *save = NULL;
        char *kind = strtok_r(line, "\t", &save);
        if (kind && strcmp(kind, "M") == 0) {
            double weight = strtod(strtok_r(NULL, "\t", &save), NULL);
            char *text = strtok_r(NULL, "\t", &save);
            if (parse_vec(strtok_r(NULL, "\t", &save), vec) != 0) fail("parse");
            uint64_t id;
            if (ov_memory_add_f32(m, vec, DIM, text, weight, "{\"source\":\"qa_coding\"}", &id) != OV_STATUS_OK)
                fail("add");
        } else if (kind && strcmp(kind, "Q") == 0 && nq < MAX_QUERIES) {
            queries[nq].text = strdup(strtok_r(NULL, "\t", &save));
            if (parse_vec(strtok_r(NULL, "\t", &save), queries[nq].vec) != 0) fail("parse");
            nq++;
        }
    }
    free(line);
    fclose(f);
    printf("stored %zu memories\n", ov_memory_count(m));

    for (int q = 0; q < nq; q++) {
        uint64_t ids[3];
        double scores[3];
        size_t n = 0;
        if (ov_memory_retrieve(m, queries[q].vec, DIM, 3, OV_DEFAULT_ALPHA, ids, scores, 3, &n) != OV_STATUS_OK)
            fail("retrieve");
        printf("\nQ: %s\n", queries[q].text);
        for (size_t i = 0; i < n; i++) {
            OvMemoryRecord *r = NULL;
            if (ov_memory_get(m, ids[i], &r) != OV_STATUS_OK) fail("get");
            printf("  %zu. [%.3f] #%llu %s\n", i + 1, scores[i], (unsigned long long)ids[i], r->text);
            ov_memory_record_free(r);
        }
        if (q == 1) {
            /* The context an agent would put in front of the model for this question. */
            char *ctx = ov_memory_context_json(m, queries[q].vec, DIM, 64, NULL);
            if (!ctx) fail("context");
            printf("  context (JSON): %s\n", ctx);
            ov_string_free(ctx);
        }
        free(queries[q].text);
    }

    char health[512];
    ov_memory_get_health(m, health, sizeof health);
    printf("\nhealth: %s\n", health);
    char *metrics = ov_memory_metrics_json(m);
    if (!metrics) fail("metrics");
    printf("metrics: %.*s...\n", 160, metrics);
    ov_string_free(metrics);
    ov_memory_destroy(m);
    return 0;
}
