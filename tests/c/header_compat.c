/* The header in the oldest C and in C++: this file is compiled as C89
 * (-std=c89 -pedantic-errors) and as C++17, linked against the library, and
 * run. It checks the version macros against ov_memory_version() and makes one
 * call through the API. Written in C89 (declarations first, block comments). */
#include <stdio.h>
#include <string.h>
#include "ov_memory.h"

int main(void) {
    char expected[32];
    const char *version = ov_memory_version();
    struct OVMemoryProduction *store;
    float v[2];
    uint64_t id = 0;
    char msg[256];
    int failures = 0;

    sprintf(expected, "%d.%d.%d", OV_MEMORY_VERSION_MAJOR, OV_MEMORY_VERSION_MINOR, OV_MEMORY_VERSION_PATCH);
    if (strcmp(version, OV_MEMORY_VERSION) != 0 || strcmp(expected, OV_MEMORY_VERSION) != 0) {
        printf("version: library %s, header %s (%s)\n", version, OV_MEMORY_VERSION, expected);
        failures++;
    }
    v[0] = 1.0f;
    v[1] = 0.0f;
    store = ov_memory_create_with_config("{\"embedding_dim\": 2}");
    if (!store) {
        ov_last_error_message(msg, sizeof msg);
        printf("ov_memory_create_with_config: %s\n", msg);
        return 1;
    }
    if (ov_memory_add_f32(store, v, 2, "a memory", 1.0, NULL, &id) != OV_STATUS_OK || id == 0) {
        ov_last_error_message(msg, sizeof msg);
        printf("ov_memory_add_f32: %s\n", msg);
        failures++;
    }
    ov_memory_destroy(store);
    printf("header_compat: %s, version %s\n", failures ? "FAILED" : "ok", version);
    return failures ? 1 : 0;
}
