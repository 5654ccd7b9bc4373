/* iasl helpers for tests (iasl_util.h). */
#include "iasl_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int iasl_available(void)
{
	const char *path = getenv("PATH");
	char buf[4096], *copy, *dir, *save = NULL;
	int found = 0;

	if (!path)
		return 0;
	copy = strdup(path);
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		snprintf(buf, sizeof(buf), "%s/iasl", dir);
		found = access(buf, X_OK) == 0;
	}
	free(copy);
	return found;
}

char *iasl_tmpdir(void)
{
	char tmpl[] = "/tmp/parvis-acpi-XXXXXX";

	return mkdtemp(tmpl) ? strdup(tmpl) : NULL;
}

void iasl_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int iasl_write(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

char *iasl_read(const char *dir, const char *name, size_t *ret_len)
{
	char path[4096], *buf;
	long n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)(n < 0 ? 0 : n) + 1);
	if (buf && n >= 0 && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = 0;
		if (ret_len)
			*ret_len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int iasl_run(const char *dir, const char *const *args)
{
	const char *argv[32];
	char log[4096];
	int status, fd;
	unsigned n = 0;
	pid_t pid;

	argv[n++] = "iasl";
	while (*args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/iasl.log", dir);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || chdir(dir) < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp("iasl", (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
