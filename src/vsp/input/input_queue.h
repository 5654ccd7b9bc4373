/*
 * A bounded queue of input messages from the console thread to a channel's
 * loop (synthkbd.c, synthhid.c): fixed-size records under a mutex, so that
 * a flood of key or pointer events costs bounded memory; what does not fit
 * is dropped and counted by the caller. Header-only: two small users.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "state/state.h"

#define INPUT_QUEUE_LEN	   256u
#define INPUT_QUEUE_RECORD 24u

struct input_queue {
	pthread_mutex_t lock;
	unsigned head, count; /* under lock */
	uint8_t rec[INPUT_QUEUE_LEN][INPUT_QUEUE_RECORD];
	uint8_t len[INPUT_QUEUE_LEN];
};

static inline void input_queue_init(struct input_queue *q)
{
	pthread_mutex_init(&q->lock, NULL);
	q->head = q->count = 0;
}

static inline void input_queue_fini(struct input_queue *q)
{
	pthread_mutex_destroy(&q->lock);
}

/* Any thread. False if full (or len too large). */
static inline bool input_queue_push(struct input_queue *q, const void *msg, unsigned len)
{
	bool ok;

	if (len > INPUT_QUEUE_RECORD)
		return false;
	pthread_mutex_lock(&q->lock);
	ok = q->count < INPUT_QUEUE_LEN;
	if (ok) {
		unsigned i = (q->head + q->count++) % INPUT_QUEUE_LEN;

		memcpy(q->rec[i], msg, len);
		q->len[i] = (uint8_t)len;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

/* The oldest record, copied into buf (INPUT_QUEUE_RECORD bytes); its length, 0 if empty. */
static inline unsigned input_queue_peek(struct input_queue *q, void *buf)
{
	unsigned n = 0;

	pthread_mutex_lock(&q->lock);
	if (q->count) {
		n = q->len[q->head];
		memcpy(buf, q->rec[q->head], n);
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

static inline void input_queue_pop(struct input_queue *q)
{
	pthread_mutex_lock(&q->lock);
	if (q->count) {
		q->head = (q->head + 1) % INPUT_QUEUE_LEN;
		q->count--;
	}
	pthread_mutex_unlock(&q->lock);
}

static inline void input_queue_clear(struct input_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->head = q->count = 0;
	pthread_mutex_unlock(&q->lock);
}

/* Saved state: u32 count, then per record u8 length and the record's bytes. */
static inline void input_queue_save(struct input_queue *q, struct state_out *out)
{
	unsigned i;

	pthread_mutex_lock(&q->lock);
	state_out_u32(out, q->count);
	for (i = 0; i < q->count; i++) {
		unsigned r = (q->head + i) % INPUT_QUEUE_LEN;

		state_out_u8(out, q->len[r]);
		state_out_bytes(out, q->rec[r], q->len[r]);
	}
	pthread_mutex_unlock(&q->lock);
}

/* False (the queue left empty) if a count or length is out of range or the bytes end. */
static inline bool input_queue_load(struct input_queue *q, struct state_in *in)
{
	uint32_t n = state_in_u32(in), i;
	bool ok = !in->error && n <= INPUT_QUEUE_LEN;

	pthread_mutex_lock(&q->lock);
	q->head = q->count = 0;
	for (i = 0; ok && i < n; i++) {
		uint8_t len = state_in_u8(in);

		ok = !in->error && len <= INPUT_QUEUE_RECORD;
		if (ok) {
			state_in_bytes(in, q->rec[i], len);
			q->len[i] = len;
			ok = !in->error;
		}
	}
	q->count = ok ? n : 0;
	pthread_mutex_unlock(&q->lock);
	return ok;
}
