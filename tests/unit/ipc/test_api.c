/* Unit tests for the management API's messages (src/ipc/api.c, jsonline.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc/api.h"
#include "ipc/jsonline.h"

static int parse(const char *line, struct api_request *req, struct api_error *err)
{
	return api_request_parse(line, strlen(line), req, err);
}

static void test_valid_request(void **state)
{
	struct api_request req;
	struct api_error err = {0};
	const char *name;
	uint64_t mem;
	bool force = false;

	assert_int_equal(
		parse("{\"api\":1,\"id\":7,\"call\":\"new-vm\",\"params\":{\"name\":\"web\","
		      "\"memory_bytes\":536870912,\"force\":true}}",
		      &req, &err),
		0);
	assert_true(req.has_id);
	assert_int_equal(req.id, 7);
	assert_int_equal(req.call, API_CALL_NEW_VM);
	assert_int_equal(api_param_string(&req, "name", true, 100, &name, &err), 0);
	assert_string_equal(name, "web");
	assert_int_equal(api_param_u64(&req, "memory_bytes", true, UINT64_MAX >> 1, &mem, &err), 0);
	assert_int_equal(mem, 512u << 20);
	assert_int_equal(api_param_bool(&req, "force", &force, &err), 0);
	assert_true(force);
	/* absent optional: 1, value untouched */
	name = "kept";
	assert_int_equal(api_param_string(&req, "kernel", false, 100, &name, &err), 1);
	assert_string_equal(name, "kept");
	api_request_fini(&req);
	/* params absent: an empty object; trailing blanks accepted */
	assert_int_equal(parse("{\"api\":1,\"call\":\"get-vm\"}  \r", &req, &err), 0);
	assert_false(req.has_id);
	assert_non_null(req.params);
	api_request_fini(&req);
}

static void expect_error(const char *line, const char *code, const char *needle)
{
	struct api_request req;
	struct api_error err = {0};

	assert_int_equal(parse(line, &req, &err), -EINVAL);
	assert_string_equal(err.code, code);
	assert_non_null(strstr(err.message, needle));
	api_request_fini(&req);
}

static void test_bad_requests(void **state)
{
	expect_error("garbage", API_ERR_BAD_REQUEST, "not one JSON object");
	expect_error("[1,2]", API_ERR_BAD_REQUEST, "not one JSON object");
	expect_error("{\"api\":1,\"call\":\"get-vm\"} {}", API_ERR_BAD_REQUEST, "not one JSON");
	expect_error("{\"api\":1,\"call\":\"get-v", API_ERR_BAD_REQUEST, "not one JSON");
	expect_error("{\"call\":\"get-vm\"}", API_ERR_BAD_REQUEST, "\"api\"");
	expect_error("{\"api\":\"1\",\"call\":\"get-vm\"}", API_ERR_BAD_REQUEST, "\"api\"");
	expect_error("{\"api\":2,\"call\":\"get-vm\"}", API_ERR_VERSION, "version 2");
	expect_error("{\"api\":1}", API_ERR_BAD_REQUEST, "\"call\"");
	expect_error("{\"api\":1,\"call\":\"format-c\"}", API_ERR_UNKNOWN_CALL, "format-c");
	expect_error("{\"api\":1,\"call\":\"get-vm\",\"params\":[]}", API_ERR_BAD_REQUEST,
		     "params");
	expect_error("{\"api\":1,\"id\":\"x\",\"call\":\"get-vm\"}", API_ERR_BAD_REQUEST, "id");
}

static void test_id_kept_on_error(void **state)
{
	struct api_request req;
	struct api_error err = {0};
	struct json_object *a, *v;

	assert_int_equal(parse("{\"api\":1,\"id\":42,\"call\":\"nope\"}", &req, &err), -EINVAL);
	assert_true(req.has_id);
	a = api_answer_error(&req, &err);
	assert_true(json_object_object_get_ex(a, "id", &v));
	assert_int_equal(json_object_get_int(v), 42);
	assert_true(json_object_object_get_ex(a, "ok", &v));
	assert_false(json_object_get_boolean(v));
	json_object_put(a);
	api_request_fini(&req);
}

static void test_param_types(void **state)
{
	struct api_request req;
	struct api_error err = {0};
	struct json_object *arr;
	const char *s;
	uint64_t n;
	bool b;

	assert_int_equal(
		parse("{\"api\":1,\"call\":\"set-vm\",\"params\":{\"name\":7,\"cpus\":-1,"
		      "\"big\":300,\"force\":\"yes\",\"disks\":[\"a\",3],\"nul\":\"a\\u0000b\"}}",
		      &req, &err),
		0);
	assert_int_equal(api_param_string(&req, "name", true, 100, &s, &err), -EINVAL);
	assert_non_null(strstr(err.message, "name"));
	assert_int_equal(api_param_string(&req, "missing", true, 100, &s, &err), -EINVAL);
	assert_non_null(strstr(err.message, "missing"));
	assert_int_equal(api_param_u64(&req, "cpus", true, 10, &n, &err), -EINVAL);
	assert_int_equal(api_param_u64(&req, "big", true, 255, &n, &err), -EINVAL);
	assert_int_equal(api_param_bool(&req, "force", &b, &err), -EINVAL);
	assert_int_equal(api_param_string_array(&req, "disks", 4, 100, &arr, &err), -EINVAL);
	assert_int_equal(api_param_string(&req, "nul", true, 100, &s, &err), -EINVAL);
	api_request_fini(&req);
}

static void test_round_trip(void **state)
{
	struct json_object *params = json_object_new_object(), *r;
	struct api_request req;
	struct api_error err = {0};
	const char *text;

	json_object_object_add(params, "name", json_object_new_string("a b"));
	r = api_request_new(9, "start-vm", params);
	text = json_object_to_json_string(r);
	assert_int_equal(parse(text, &req, &err), 0);
	assert_int_equal(req.call, API_CALL_START_VM);
	assert_int_equal(req.id, 9);
	api_request_fini(&req);
	json_object_put(r);
	for (int i = 0; i < API_CALL_COUNT; i++)
		assert_int_equal(api_call_from_name(api_call_name((enum api_call)i)), i);
}

static void test_jsonline(void **state)
{
	struct jsonline_reader rd;
	int sv[2];
	char *line;
	size_t len;
	static const char two[] = "{\"a\":1}\n{\"b\":2}\n";

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(jsonline_reader_init(&rd, sv[0], 16), 0);
	assert_int_equal(write(sv[1], two, sizeof(two) - 1), (ssize_t)sizeof(two) - 1);
	assert_int_equal(jsonline_read(&rd, 1000, &line, &len), 1);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(jsonline_read(&rd, 1000, &line, &len), 1);
	assert_string_equal(line, "{\"b\":2}");
	assert_int_equal(jsonline_read(&rd, 10, &line, &len), -ETIMEDOUT);
	assert_int_equal(write(sv[1], "0123456789abcdefgh", 18), 18);
	assert_int_equal(jsonline_read(&rd, 1000, &line, &len), -E2BIG);
	jsonline_reader_fini(&rd);
	close(sv[1]);
	assert_int_equal(jsonline_reader_init(&rd, sv[0], 64), 0);
	assert_int_equal(jsonline_read(&rd, 1000, &line, &len), 0); /* end of stream */
	jsonline_reader_fini(&rd);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_request),	 cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_id_kept_on_error), cmocka_unit_test(test_param_types),
		cmocka_unit_test(test_round_trip),	 cmocka_unit_test(test_jsonline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
