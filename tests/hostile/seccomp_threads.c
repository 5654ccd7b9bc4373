/*
 * The hostile-guest suites under the jail's seccomp filters: every thread the
 * code under test creates (the VMBus server's message thread, each channel's
 * loop, storvsp's queues) starts under the worker's process filter, as it
 * does in a jailed parvis-vmwp, so that a system call the jail forbids, made
 * by a device model under hostile input, kills the test with the jail's
 * SIGSYS report (src/vmwp/sandbox.c). The executables are linked with
 * -Wl,--wrap=pthread_create (tests/hostile/meson.build): the libraries'
 * calls to pthread_create come here.
 *
 * Not under ThreadSanitizer: its runtime symbolizes a racing thread's stack
 * to match suppressions (tsan.supp), with open(2) and possibly a symbolizer
 * process, on that thread. The plain and ASan builds (CI's unit suite) run
 * the filters.
 *
 * The main thread, which plays the guest and runs cmocka (temporary files,
 * LeakSanitizer's ptrace at exit), stays unfiltered; a case that runs host
 * code on the guest's behalf (a hypercall, on a vCPU thread in the worker)
 * does it on a thread of hostile_vcpu_run(), under the vCPU filter too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/compiler.h"
#include "hostile.h"
#include "vmwp/sandbox.h"

int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

#if defined(__SANITIZE_THREAD__)
#define FILTERS_ON false
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FILTERS_ON false
#endif
#endif
#ifndef FILTERS_ON
#define FILTERS_ON true
#endif

bool hostile_filters_on(void)
{
	return FILTERS_ON;
}

struct start {
	void *(*fn)(void *);
	void *arg;
	bool vcpu;
};

static void *filtered_main(void *p)
{
	struct start s = *(struct start *)p;

	free(p);
	if (FILTERS_ON && sandbox_thread_filters(s.vcpu, 0) < 0) {
		static const char msg[] = "hostile: cannot load the jail's seccomp filters\n";

		IGNORE_RESULT(write(STDERR_FILENO, msg, sizeof(msg) - 1));
		abort();
	}
	return s.fn(s.arg);
}

static int create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg,
		  bool vcpu)
{
	struct start *s = malloc(sizeof(*s));
	int r;

	if (!s)
		return ENOMEM;
	*s = (struct start){.fn = fn, .arg = arg, .vcpu = vcpu};
	r = __real_pthread_create(t, attr, filtered_main, s);
	if (r)
		free(s);
	return r;
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	return create(t, attr, fn, arg, false);
}

void *hostile_vcpu_run(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	void *ret = NULL;

	if (create(&t, NULL, fn, arg, true) || pthread_join(t, &ret))
		abort();
	return ret;
}

static void *forbidden(void *arg)
{
	(void)arg;
	sandbox_test_forbidden_syscall();
	return NULL;
}

int hostile_filtered_syscall_status(void)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		/* A device thread that tries what an exploited device model would. */
		pthread_t t;

		if (pthread_create(&t, NULL, forbidden, NULL) == 0)
			pthread_join(t, NULL);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}
