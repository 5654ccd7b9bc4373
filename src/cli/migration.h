/* The live migration verbs of parvis (docs/migration.md): src/cli/migration.c. */
#pragma once

#include <stdbool.h>

/* True if verb is one of them. */
bool cli_migration_is_verb(const char *verb);
/* Runs one: argv[0] is the verb. Returns the exit status. */
int cli_migration_main(int argc, char **argv);
/* Prints the verbs' usage lines (parvis help), or one verb's help; false if unknown. */
void cli_migration_usage(void);
bool cli_migration_help(const char *verb);
