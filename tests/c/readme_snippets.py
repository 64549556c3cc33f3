#!/usr/bin/env python3
"""Writes the README's "Managing memories" C snippets as one program: each
snippet (the ```c block after a `<!-- manage-c -->` marker) runs in order, in
its own block, on one store of 3-dimensional embeddings named `m`.
Usage: readme_snippets.py README.md OUT.c"""
import re
import sys

readme = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"<!-- manage-c -->\s*```c\n(.*?)```", readme, re.S)
if len(blocks) < 6:
    sys.exit(f"README has {len(blocks)} manage-c snippets, expected one per feature (6)")
body = "\n".join("    {\n" + "".join("        " + line + "\n" for line in b.splitlines()) + "    }" for b in blocks)
program = f"""/* Generated from README.md by tests/c/readme_snippets.py. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ov_memory.h"

int main(void) {{
    OVMemoryProduction *m = ov_memory_create(3, 1000, true);
    if (!m) return 2;
    uint64_t id;
    (void)id;
{body}
    ov_memory_destroy(m);
    return 0;
}}
"""
open(sys.argv[2], "w", encoding="utf-8").write(program)
