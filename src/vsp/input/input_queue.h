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
