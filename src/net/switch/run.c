/* Running tc; see run.h. */
#include "net/switch/run.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int vsw_run(char *const argv[], char *err, size_t errlen)
{
	char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	char *const envp[] = {path_env, NULL};
	posix_spawn_file_actions_t fa;
	char buf[1024];
	size_t used = 0;
	int pipefd[2], status, r;
	pid_t pid;

	if (err && errlen)
		err[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(r));
		return -r;
	}
	for (;;) {
		ssize_t n = read(pipefd[0], buf + used, sizeof(buf) - 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == sizeof(buf) - 1) { /* keep the first KiB, drain the rest */
			char sink[512];

			while (read(pipefd[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	close(pipefd[0]);
	buf[used] = '\0';
	while (used && (buf[used - 1] == '\n' || buf[used - 1] == ' '))
		buf[--used] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(err, errlen, "%s failed: %s", argv[0], used ? buf : "no message");
	return -EIO;
}
