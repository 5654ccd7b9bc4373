/*
 * X keysyms (what RFB key events carry, RFC 6143 section 7.5.4) to PC scan
 * codes of set 1 (what the synthetic keyboard delivers), for a US layout:
 * a keysym names a symbol, so 'a' and 'A' are the same key and the client
 * sends Shift as a key of its own. See keysym_set1.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A set-1 key: its make code (0x01-0x7F) and prefix flags (SYNTHKBD_FLAG_E0 / _E1). */
struct set1_key {
	uint8_t code;
	uint8_t e0;
};

/* The key for keysym; false if the table has none. */
bool keysym_to_set1(uint32_t keysym, struct set1_key *key);

/* Keysyms with a sequence of their own (Pause: E1 1D 45, no break codes). */
#define KEYSYM_PAUSE 0xFF13u
