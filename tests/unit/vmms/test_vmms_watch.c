/*
 * The service's worker watch (src/vmms/service.c, svc_watch_collect): the
 * monitor sees every VM with a worker, however many. It used to stop at
 * 255 (fixed arrays of 256 pollfds), so the 256th worker's exit went
 * unnoticed.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmms/service_internal.h"

#define NVMS 1000

static void test_watch_has_no_cap(void **state)
{
	struct service svc = {0};
	struct svc_watch w = {0};
	struct vm *vms = calloc(NVMS, sizeof(*vms));
	unsigned i, n, seen = 0;
	int fd = open("/dev/null", O_RDONLY);

	assert_non_null(vms);
	assert_true(fd >= 0);
	pthread_mutex_init(&svc.lock, NULL);
	/* Every other VM has a worker; the pidfd only needs to be an open fd here. */
	for (i = 0; i < NVMS; i++) {
		vms[i].pidfd = i % 2 ? fd : -1;
		vms[i].next = i + 1 < NVMS ? &vms[i + 1] : NULL;
	}
	svc.vms = &vms[0];
	pthread_mutex_lock(&svc.lock);
	n = svc_watch_collect(&svc, &w, 1);
	pthread_mutex_unlock(&svc.lock);
	assert_int_equal(n, 1 + NVMS / 2);
	for (i = 1; i < n; i++) {
		assert_int_equal(w.fds[i].fd, fd);
		assert_int_equal(w.fds[i].events, POLLIN);
		assert_int_equal(w.vms[i]->pidfd, fd);
	}
	for (i = 0; i < NVMS; i++) {
		assert_int_equal(vms[i].refs, i % 2 ? 1u : 0u);
		seen += vms[i].refs;
	}
	assert_int_equal(seen, NVMS / 2);
	/* Again from index 0 (the status round): the same VMs, a second reference each. */
	pthread_mutex_lock(&svc.lock);
	n = svc_watch_collect(&svc, &w, 0);
	pthread_mutex_unlock(&svc.lock);
	assert_int_equal(n, NVMS / 2);
	assert_int_equal(vms[NVMS - 1].refs, 2);
	svc_watch_fini(&w);
	pthread_mutex_destroy(&svc.lock);
	close(fd);
	free(vms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch_has_no_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
