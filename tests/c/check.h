/* The CHECK macro and its counters, shared by the C test programs that use it. */
#ifndef OV_TEST_CHECK_H
#define OV_TEST_CHECK_H

#include <stdio.h>

static int passed = 0, failed = 0;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (cond) {                                                                       \
            passed++;                                                                     \
        } else {                                                                          \
            failed++;                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                 \
    } while (0)

#endif
