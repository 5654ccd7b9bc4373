/*
 * Running the ACPICA compiler/disassembler (iasl, package acpica-tools)
 * from tests, as an independent check of the tables and AML we write.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* True if iasl is on PATH. */
int iasl_available(void);
/* A fresh temporary directory (mkdtemp); the caller frees the string. */
char *iasl_tmpdir(void);
/* Removes every file in dir and dir itself. */
void iasl_rmdir(const char *dir);
/* Writes len bytes to dir/name; 0 or -1. */
int iasl_write(const char *dir, const char *name, const void *data, size_t len);
/* Reads dir/name into a NUL-terminated malloc'd string (NULL on failure). */
char *iasl_read(const char *dir, const char *name, size_t *ret_len);
/*
 * Runs "iasl <args...>" (NULL-terminated) in dir with stdout and stderr
 * to dir/iasl.log; returns its exit status (-1 if it could not run).
 */
int iasl_run(const char *dir, const char *const *args);
