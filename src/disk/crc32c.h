/* CRC-32C (Castagnoli; reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, data, len) is the standard CRC-32C; chain calls by passing the previous result. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
