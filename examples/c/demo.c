/* OV-Memory demo (C). The same scenario, line for line, as the Rust, Node,
 * Python, Java and browser demos: a real conversation (LoCoMo conv-26) stored
 * as an agent's memory, its questions asked of the engine and of plain cosine
 * similarity, a context within a token budget, and the health line.
 *
 *   demo [examples/data/conversation.tsv]   (run from the repository root)
 *
 * Results arrive as JSON text; this program reads them with cJSON. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ov_memory.h"

#define TOP 3
#define CONTEXT_TOKENS 120
#define DAY_MS 86400000LL

struct question {
    int shown;
    char *text, *answer, *evidence;
};

static void die(const char *what) {
    char msg[512];
    ov_last_error_message(msg, sizeof msg);
    fprintf(stderr, "%s failed: %s\n", what, msg);
    exit(1);
}

/* x with 3 decimals, rounded the same way in every language's demo. */
static const char *fmt3(double x, char *buf) {
    long long k = (long long)floor(fabs(x) * 1000.0 + 0.5);
    sprintf(buf, "%s%lld.%03lld", x < 0 && k > 0 ? "-" : "", k / 1000, k % 1000);
    return buf;
}

/* At most n characters (code points), with an ellipsis when cut. */
static const char *clip(const char *text, int n, char *buf) {
    int cps = 0;
    for (const char *p = text; *p; p++) cps += ((unsigned char)*p & 0xC0) != 0x80;
    if (cps <= n) return text;
    const char *p = text;
    for (int seen = 0; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80 && seen++ == n - 1) break;
    }
    sprintf(buf, "%.*s\xE2\x80\xA6", (int)(p - text), text);
    return buf;
}

static const char *day(long long ms, char *buf) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 16, "%Y-%m-%d", &tm);
    return buf;
}

/* Whether `item` is one of the comma-separated `list`. */
static int in_list(const char *item, const char *list) {
    size_t n = strlen(item);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, item, n) == 0 && (p[n] == ',' || p[n] == '\0')) return 1;
    }
    return 0;
}

static float *read_f32(const char *path, size_t count) {
    float *v = malloc(count * sizeof *v);
    FILE *f = fopen(path, "rb");
    if (!v || !f || fread(v, sizeof *v, count, f) != count) {
        fprintf(stderr, "cannot read %zu floats from %s\n", count, path);
        exit(1);
    }
    fclose(f);
    return v;
}

static char *field(char **line) {
    char *start = *line, *tab = strchr(start, '\t');
    if (tab) {
        *tab = '\0';
        *line = tab + 1;
    } else {
        *line = start + strlen(start);
    }
    return strdup(start);
}

static cJSON *call_json(char *text, const char *what) {
    if (!text) die(what);
    cJSON *doc = cJSON_Parse(text);
    ov_string_free(text);
    return doc;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "examples/data/conversation.tsv";
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t n = 0, nq = 0, cap = 0, qcap = 0, dim = 0;
    long long *created = NULL;
    char **turn = NULL, **texts = NULL, *files[2] = {NULL, NULL};
    struct question *qs = NULL;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    while ((len = getline(&line, &linecap, f)) > 0) {
        if (line[len - 1] == '\n') line[len - 1] = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        char *rest = line + 2;
        if (line[0] == 'V') {
            files[0] = field(&rest);
            files[1] = field(&rest);
            char *d = field(&rest);
            dim = (size_t)atoi(d);
            free(d);
        } else if (line[0] == 'M') {
            if (n == cap) {
                cap = cap ? 2 * cap : 512;
                created = realloc(created, cap * sizeof *created);
                turn = realloc(turn, cap * sizeof *turn);
                texts = realloc(texts, cap * sizeof *texts);
            }
            char *ms = field(&rest);
            created[n] = atoll(ms);
            free(ms);
            turn[n] = field(&rest);
            texts[n] = field(&rest);
            n++;
        } else if (line[0] == 'Q') {
            if (nq == qcap) {
                qcap = qcap ? 2 * qcap : 256;
                qs = realloc(qs, qcap * sizeof *qs);
            }
            char *shown = field(&rest);
            qs[nq].shown = shown[0] == '1';
            free(shown);
            qs[nq].text = field(&rest);
            qs[nq].answer = field(&rest);
            qs[nq].evidence = field(&rest);
            nq++;
        }
    }
    free(line);
    fclose(f);
    if (!files[0] || n == 0 || nq == 0 || dim == 0) {
        fprintf(stderr, "%s: no data\n", path);
        return 1;
    }
    float *vectors = read_f32(files[0], n * dim);
    float *qvectors = read_f32(files[1], nq * dim);
    char b1[16], b2[16], num[32], cut[512];

    printf("OV-Memory demo: a long conversation as an agent's memory\n\n");
    printf("Data: LoCoMo conversation conv-26 (CC BY-NC 4.0, non-commercial use only), %zu turns between\n", n);
    printf("Caroline and Melanie from %s to %s. Each turn is one memory with its real date\n",
           day(created[0], b1), day(created[n - 1], b2));
    printf("and its all-MiniLM-L6-v2 embedding.\n\n");

    char config[64];
    snprintf(config, sizeof config, "{\"embedding_dim\": %zu, \"max_nodes\": 1000}", dim);
    OVMemoryProduction *m = ov_memory_create_with_config(config);
    if (!m) die("ov_memory_create_with_config");
    /* Each memory's dialog turn as metadata; the real dates as creation times. */
    char **meta = malloc(n * sizeof *meta);
    cJSON *opts = cJSON_CreateObject(), *times = cJSON_AddArrayToObject(opts, "created_at");
    for (size_t i = 0; i < n; i++) {
        meta[i] = malloc(64);
        snprintf(meta[i], 64, "{\"turn\":\"%s\"}", turn[i]);
        cJSON_AddItemToArray(times, cJSON_CreateNumber((double)created[i]));
    }
    char *opts_json = cJSON_PrintUnformatted(opts);
    uint64_t *ids = malloc(n * sizeof *ids);
    if (ov_memory_add_batch_with(m, vectors, n, dim, (const char *const *)texts, NULL, (const char *const *)meta,
                                 opts_json, ids) != OV_STATUS_OK)
        die("ov_memory_add_batch_with");
    cJSON_free(opts_json);
    cJSON_Delete(opts);
    long long now = created[n - 1] + DAY_MS; /* "today" is the day after the last session */
    cJSON *metrics = call_json(ov_memory_metrics_json(m), "ov_memory_metrics_json");
    printf("Stored %zu memories; the honeycomb links them with %d edges.\n\n", ov_memory_count(m),
           cJSON_GetObjectItem(metrics, "edge_count")->valueint);
    cJSON_Delete(metrics);
    printf("For each question: the engine's top 3 (the question's embedding and its words) and plain\n");
    printf("cosine's top 3 (the embedding alone). score: the engine's score, how far the match stands\n");
    printf("above the other memories plus small bounded priors (importance, recency, links); cos: cosine\n");
    printf("similarity; *: the turn the dataset names as the evidence for its answer.\n");

    int found_engine = 0, found_cosine = 0;
    for (size_t q = 0; q < nq; q++) {
        const float *qv = qvectors + q * dim;
        cJSON *eo = cJSON_CreateObject();
        cJSON_AddStringToObject(eo, "text", qs[q].text);
        cJSON_AddNumberToObject(eo, "top_k", TOP);
        cJSON_AddNumberToObject(eo, "now", (double)now);
        char *eo_json = cJSON_PrintUnformatted(eo);
        char co_json[128];
        snprintf(co_json, sizeof co_json, "{\"top_k\": %d, \"alpha\": 1, \"now\": %lld}", TOP, now);
        cJSON *lists[2] = {call_json(ov_memory_retrieve_json(m, qv, dim, eo_json), "retrieve"),
                           call_json(ov_memory_retrieve_json(m, qv, dim, co_json), "retrieve")};
        cJSON_free(eo_json);
        cJSON_Delete(eo);
        int *found[2] = {&found_engine, &found_cosine};
        for (int l = 0; l < 2; l++) {
            const cJSON *h;
            cJSON_ArrayForEach(h, lists[l]) {
                size_t i = (size_t)cJSON_GetObjectItem(h, "id")->valuedouble - 1;
                if (in_list(turn[i], qs[q].evidence)) {
                    (*found[l])++;
                    break;
                }
            }
        }
        if (qs[q].shown) {
            printf("\nQ: %s\n", qs[q].text);
            printf("   the dataset's answer: %s (evidence: ", qs[q].answer);
            for (const char *p = qs[q].evidence; *p; p++) printf(*p == ',' ? ", " : "%c", *p);
            printf(")\n");
            const char *labels[2] = {"engine", "cosine"}, *names[2] = {"score", "cos"}, *keys[2] = {"P", "S"};
            for (int l = 0; l < 2; l++) {
                int k = 0;
                const cJSON *h;
                cJSON_ArrayForEach(h, lists[l]) {
                    size_t i = (size_t)cJSON_GetObjectItem(h, "id")->valuedouble - 1;
                    double v = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "score"), keys[l])->valuedouble;
                    printf("    %-6s %d. %c %-6s %s  %s %s  %s\n", k == 0 ? labels[l] : "", k + 1,
                           in_list(turn[i], qs[q].evidence) ? '*' : ' ', turn[i], day(created[i], b1), names[l],
                           fmt3(v, num), clip(texts[i], 44, cut));
                    k++;
                }
            }
        }
        cJSON_Delete(lists[0]);
        cJSON_Delete(lists[1]);
    }
    printf("\nAll %zu questions of the conversation: the evidence is in the top 3 for %d (engine)\n", nq,
           found_engine);
    printf("and for %d (plain cosine).\n", found_cosine);

    size_t asked = 0;
    while (!(qs[asked].shown && strchr(qs[asked].evidence, ','))) asked++;
    cJSON *co = cJSON_CreateObject();
    cJSON_AddStringToObject(co, "text", qs[asked].text);
    cJSON_AddNumberToObject(co, "now", (double)now);
    char *co_json = cJSON_PrintUnformatted(co);
    cJSON *ctx = call_json(ov_memory_context_json(m, qvectors + asked * dim, dim, CONTEXT_TOKENS, co_json), "context");
    cJSON_free(co_json);
    cJSON_Delete(co);
    const cJSON *items = cJSON_GetObjectItem(ctx, "items");
    printf("\nThe context an agent would send for \"%s\" within %d tokens:\n", qs[asked].text, CONTEXT_TOKENS);
    printf("%d memories, %d tokens (the best matches and their honeycomb neighbours, each with its date):\n",
           cJSON_GetArraySize(items), cJSON_GetObjectItem(ctx, "tokens_used")->valueint);
    const cJSON *item;
    cJSON_ArrayForEach(item, items) {
        size_t i = (size_t)cJSON_GetObjectItem(item, "id")->valuedouble - 1;
        printf("    %c %-6s %s  %s\n", in_list(turn[i], qs[asked].evidence) ? '*' : ' ', turn[i],
               day(created[i], b1), clip(texts[i], 64, cut));
    }
    cJSON_Delete(ctx);

    char health_text[1024];
    if (ov_memory_get_health(m, health_text, sizeof health_text) >= sizeof health_text) die("ov_memory_get_health");
    cJSON *health = cJSON_Parse(health_text);
    metrics = call_json(ov_memory_metrics_json(m), "ov_memory_metrics_json");
    printf("\nHealth: %s, circuit breaker %s, %d errors in %d calls.\n",
           cJSON_GetObjectItem(health, "status")->valuestring,
           cJSON_GetObjectItem(health, "circuit_breaker")->valuestring,
           cJSON_GetObjectItem(metrics, "error_count")->valueint,
           cJSON_GetObjectItem(metrics, "queries_processed")->valueint);
    cJSON_Delete(health);
    cJSON_Delete(metrics);

    ov_memory_destroy(m);
    for (size_t i = 0; i < n; i++) {
        free(turn[i]);
        free(texts[i]);
        free(meta[i]);
    }
    for (size_t q = 0; q < nq; q++) {
        free(qs[q].text);
        free(qs[q].answer);
        free(qs[q].evidence);
    }
    free(files[0]);
    free(files[1]);
    free(created);
    free(turn);
    free(texts);
    free(meta);
    free(qs);
    free(ids);
    free(vectors);
    free(qvectors);
    return 0;
}
