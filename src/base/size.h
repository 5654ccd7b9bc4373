/* Parsing of human sizes ("512M", "2G", "4096"). */
#pragma once

#include <stdint.h>

#include "base/compiler.h"

/*
 * Parses a size with an optional binary suffix K, M, G, T (KiB.. TiB; an
 * optional trailing "iB" or "B" is accepted). A bare number is bytes,
 * unless default_unit is given (e.g. MiB for --memory). Returns 0, or
 * -EINVAL for malformed input, -ERANGE on overflow.
 */
int size_parse(const char *s, uint64_t default_unit, uint64_t *ret) must_check;
